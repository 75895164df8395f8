"""Test plugin for the chat tests: a scripted LLM provider (the answers service
streams whatever it yields, at the pace the test chooses)."""

from __future__ import annotations

import asyncio
import threading
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bwenge import hookimpl


class Script:
    """What the scripted provider answers next; tests change it between questions."""

    chunks: ClassVar[list[str]] = ["Hello", " from", " the", " persona."]
    delay: ClassVar[float] = 0.0
    fail_after: ClassVar[int] = 0  # chunks yielded before a failing attempt raises
    failures: ClassVar[int] = 0  # how many attempts fail
    gate: ClassVar[threading.Event | None] = None  # when set up, held after the first chunk

    @classmethod
    def reset(cls) -> None:
        cls.chunks = ["Hello", " from", " the", " persona."]
        cls.delay = 0.0
        cls.fail_after = 0
        cls.failures = 0
        cls.gate = None


class ScriptedProvider:
    name: ClassVar[str] = "chat-scripted"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options

    async def stream(self, request):
        for i, chunk in enumerate(list(Script.chunks)):
            if Script.failures and i == Script.fail_after:
                Script.failures -= 1
                raise RuntimeError("scripted failure")
            if Script.delay:
                await asyncio.sleep(Script.delay)
            yield chunk
            if i == 0 and Script.gate is not None:  # a thread event: servers run in threads
                await asyncio.to_thread(Script.gate.wait, 60)


class ChatTestPlugin:
    """Registered with ``make_kernel(plugins=[ChatTestPlugin()])``."""

    __name__ = "chat_test_plugin"

    @hookimpl
    def register_llm_providers(self, register):
        register(ScriptedProvider.name, ScriptedProvider)

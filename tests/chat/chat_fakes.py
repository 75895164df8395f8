"""Test plugin for the chat tests: a scripted LLM provider (the answers service
streams whatever it yields, at the pace the test chooses)."""

from __future__ import annotations

import asyncio
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from bwenge import hookimpl


class Script:
    """What the scripted provider answers next; tests change it between questions."""

    chunks: ClassVar[list[str]] = ["Hello", " from", " the", " persona."]
    delay: ClassVar[float] = 0.0
    fail_after: ClassVar[int | None] = None  # raise after this many chunks (once)

    @classmethod
    def reset(cls) -> None:
        cls.chunks = ["Hello", " from", " the", " persona."]
        cls.delay = 0.0
        cls.fail_after = None


class ScriptedProvider:
    name: ClassVar[str] = "chat-scripted"

    class Options(BaseModel):
        model_config = ConfigDict(extra="forbid")

    def __init__(self, options: BaseModel | None = None) -> None:
        self.options = options

    async def stream(self, request):
        for i, chunk in enumerate(list(Script.chunks)):
            if Script.fail_after is not None and i == Script.fail_after:
                Script.fail_after = None
                raise RuntimeError("scripted failure")
            if Script.delay:
                await asyncio.sleep(Script.delay)
            yield chunk


class ChatTestPlugin:
    """Registered with ``make_kernel(plugins=[ChatTestPlugin()])``."""

    __name__ = "chat_test_plugin"

    @hookimpl
    def register_llm_providers(self, register):
        register(ScriptedProvider.name, ScriptedProvider)


# -- a stand-in used only until the real answers plugin is active ----------

class FakeAnswers:
    """In-memory answers service following ``bwenge.contracts.answers``."""

    # Class-level, so two servers in one test share them like they share a database.
    sessions: ClassVar[dict[str, tuple[str, str, str]]] = {}  # id -> (user, org, persona)
    messages: ClassVar[dict[str, list]] = {}

    def __init__(self, kernel):
        self.kernel = kernel

    def open_session(self, principal, persona_id, session_id=None):
        import uuid

        from bwenge.errors import NotFound

        if session_id:
            owner = self.sessions.get(session_id)
            if owner is None or owner[:2] != (principal.user_id, principal.org_id):
                raise NotFound("Session not found.")
            return session_id
        sid = str(uuid.uuid4())
        self.sessions[sid] = (principal.user_id, principal.org_id, persona_id)
        self.messages[sid] = []
        return sid

    def _store(self, sid, sender, content, metadata=None):
        import uuid

        from bwenge.contracts.answers import StoredMessage
        from bwenge.utils import utcnow

        msg = StoredMessage(message_id=str(uuid.uuid4()), session_id=sid, sender=sender,
                            content=content, timestamp=utcnow(), metadata=metadata or {})
        self.messages[sid].append(msg)
        return msg

    async def stream(self, principal, persona_id, session_id, user_message, context=None):
        from bwenge.contracts.answers import Answer, AnswerEvent

        self._store(session_id, "user", user_message)
        text = ""
        complete = False
        try:
            async for chunk in ScriptedProvider().stream(None):
                text += chunk
                yield AnswerEvent(type="delta", text=chunk)
            complete = True
        finally:
            msg = self._store(session_id, "persona", text, {"complete": complete})
        yield AnswerEvent(type="answer", answer=Answer(
            response_text=text, session_id=session_id, message_id=msg.message_id,
            animation_hint="explaining", confidence=0.5, provider="chat-scripted"))

    async def answer(self, *args, **kwargs):
        raise NotImplementedError

    def history(self, principal, session_id, limit=50, offset=0):
        msgs = self.messages.get(session_id, [])
        return msgs[offset:offset + limit], len(msgs)


class FakeStackPlugin:
    __name__ = "chat_fake_stack"

    @hookimpl(trylast=True)
    def after_app_start(self, kernel):
        if "answers" not in kernel.services:
            kernel.provide("answers", FakeAnswers(kernel))

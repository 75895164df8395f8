"""What every part of the ``auth`` service shares: the kernel, its settings, the
database and the hook emitter."""

from __future__ import annotations

from typing import Any

from bwenge.kernel import Kernel

from .settings import AuthSettings


class AuthPart:
    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self.settings: AuthSettings = kernel.settings_for("auth")

    @property
    def db(self):
        return self.kernel.db

    async def _emit(self, hook: str, **kwargs: Any) -> None:
        await self.kernel.emit(hook, **kwargs)

    def _read(self, fn):
        with self.db.session() as s:
            return fn(s)

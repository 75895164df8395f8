"""Hook implementations of the answers plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl


@hookimpl
def register_settings(register):
    from .settings import AnswersSettings

    register("answers", AnswersSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl(tryfirst=True)  # the chat plugin looks the service up when it starts
def after_app_start(kernel):
    setup(kernel)
    # exchanges a kill interrupted: questions kept as unanswered, reservations released
    return kernel.services["answers"].recover_interrupted()


@hookimpl
def register_routes(register, kernel):
    from .routes import router

    setup(kernel)
    register(router)


def setup(kernel) -> None:
    """Provide the ``answers`` service. Idempotent."""
    if "answers" in kernel.services:
        return
    from .service import AnswerEngine

    kernel.provide("answers", AnswerEngine(kernel, kernel.settings_for("answers")))

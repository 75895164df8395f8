"""Hook implementations of the answers plugin."""

from __future__ import annotations

from pathlib import Path

from bwenge import hookimpl

from .services import answer_engine, exam_service


@hookimpl
def register_settings(register):
    from .settings import AnswersSettings

    register("answers", AnswersSettings)


@hookimpl
def register_migrations(register):
    register(Path(__file__).parent / "migrations")


@hookimpl
def register_services(register):
    from bwenge.contracts.answers import AnswerService
    from bwenge.contracts.exams import ExamService

    from .services import make_answers, make_exams

    register(
        "answers", make_answers, provides=AnswerService, optional=("personas", "llm", "retriever")
    )
    register(
        "exams",
        make_exams,
        provides=ExamService,
        needs=("answers",),
        optional=("retriever", "knowledge"),
    )


@hookimpl
def after_app_start(kernel):
    # exchanges a kill interrupted: questions kept as unanswered, reservations released
    return answer_engine(kernel).recover_interrupted()


@hookimpl
def exam_from_persona(kernel, persona):
    return exam_service(kernel).persona_summary(persona.org_id, persona.persona_id)


@hookimpl
def answer_from_persona_question(kernel, persona, question):
    return answer_engine(kernel).preview(persona, question)


@hookimpl
def register_routes(register, kernel):
    from .exam_routes import router as exam_router
    from .routes import router

    register(router)
    register(exam_router)


@hookimpl
def register_commands(cli):
    from .cli import add_commands

    add_commands(cli)


@hookimpl
async def after_persona_change(kernel, event):
    if event.data.get("action") != "delete" or not event.org_id:
        return
    import asyncio

    await asyncio.to_thread(
        exam_service(kernel).delete_persona, event.org_id, event.data["persona_id"]
    )


@hookimpl
def register_permissions(register):
    from bwenge.permissions import EVERYONE, STAFF

    register("exam.read", STAFF)
    register("exam.write", STAFF)
    register("exam.run", STAFF)
    register("answer.ask", EVERYONE)
    register("session.read_own", EVERYONE)

"""The answers plugin's services, ``answers`` and ``exams``, declared in
``hooks.register_services``; these accessors resolve through ``kernel.services``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exams import ExamService
    from .service import AnswerEngine


def make_answers(kernel, personas: Any, llm: Any, retriever: Any) -> AnswerEngine:
    from .service import AnswerEngine

    return AnswerEngine(
        kernel, kernel.settings_for("answers"), personas=personas, llm=llm, retriever=retriever
    )


def make_exams(kernel, answers: AnswerEngine, retriever: Any, knowledge: Any) -> ExamService:
    from .exams import ExamService

    return ExamService(kernel, answers, retriever=retriever, knowledge=knowledge)


def answer_engine(kernel) -> AnswerEngine:
    return kernel.services["answers"]


def exam_service(kernel) -> ExamService:
    return kernel.services["exams"]

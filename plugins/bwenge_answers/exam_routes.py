"""REST routes of persona exams: store, read, run, and read the last result."""

from __future__ import annotations

from bwenge_rest import errors, get_kernel, merge, ok, require
from fastapi import APIRouter, Depends

from bwenge.domain import Principal

from .exam_items import ExamIn
from .exam_schemas import ExamOut, ExamResultOut
from .exams import ExamService
from .services import exam_service

router = APIRouter(tags=["exams"])


def exams(kernel=Depends(get_kernel)) -> ExamService:
    return exam_service(kernel)


@router.put("/personas/{persona_id}/exam", operation_id="exams.put", responses=ok(ExamOut))
async def put_exam(
    persona_id: str,
    body: ExamIn,
    principal: Principal = Depends(require("exam.write")),
    service: ExamService = Depends(exams),
):
    """Replace the persona's exam: ``{"items": [{question, expected_source, keywords} |
    {question, expect_refusal: true}, ...]}`` (1-500 items)."""
    return service.put(principal, persona_id, body.items)


@router.get("/personas/{persona_id}/exam", operation_id="exams.get", responses=ok(ExamOut))
async def get_exam(
    persona_id: str,
    principal: Principal = Depends(require("exam.read")),
    service: ExamService = Depends(exams),
):
    """The persona's exam (404 when it has none)."""
    return service.get(principal, persona_id)


@router.post(
    "/personas/{persona_id}/exam/run",
    operation_id="exams.run",
    responses=merge(ok(ExamResultOut), errors(503)),
)
async def run_exam(
    persona_id: str,
    principal: Principal = Depends(require("exam.run")),
    service: ExamService = Depends(exams),
):
    """Answer every question with the persona's current material and score the answers;
    the result is kept as the persona's last."""
    return await service.run(principal, persona_id)


@router.get(
    "/personas/{persona_id}/exam/result",
    operation_id="exams.result",
    responses=ok(ExamResultOut),
)
async def exam_result(
    persona_id: str,
    principal: Principal = Depends(require("exam.read")),
    service: ExamService = Depends(exams),
):
    """The last result (404 when the exam was never run)."""
    return service.result(principal, persona_id)

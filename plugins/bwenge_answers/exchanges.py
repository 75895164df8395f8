"""How an exchange is written, so a crash never loses an acknowledged question
nor charges an answer that was never stored.

1. :func:`store_question` — before any listener may spend quota and before the
   answer streams: the question row, two sequence numbers (the question's and the
   answer's), and an :class:`~.models.PendingAnswerRow` naming this worker.
2. :func:`store_answer` — the answer (complete, or what a departed client saw)
   and the end of the pending row, in one transaction.
3. :func:`mark_unanswered` — a failure or a recovered crash: the question stays,
   marked ``answered: false``, so the client can ask again.

The question's id is the exchange's reference (``exchange_id`` in the answer
events): billing keys its reservation by it, so releasing it is exact and
idempotent, including at start-up for exchanges this worker's previous process
left pending (:func:`interrupted`).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, insert, or_, select, update

from bwenge.utils import new_id, utcnow

from .models import MessageRow, PendingAnswerRow, SessionRow

# far beyond any answer's deadline: such a pending exchange has no live worker
ABANDONED_AFTER = timedelta(hours=1)


def store_question(
    db,
    *,
    session_id: str,
    org_id: str,
    user_id: str | None,
    persona_id: str,
    question: str,
    worker: str,
    request_id: str | None,
) -> tuple[str, int]:
    """Store the question as the session's next message; ``(its id, its seq)``.
    The seq after it is kept for the answer."""
    now = utcnow()
    question_id = new_id()
    with db.session() as s:
        # bumping the counter takes the write lock first, so concurrent exchanges
        # in one session get distinct sequence numbers
        s.execute(
            update(SessionRow)
            .where(SessionRow.id == session_id)
            .values(message_count=SessionRow.message_count + 2, updated_at=now)
        )
        seq = s.scalar(select(SessionRow.message_count).where(SessionRow.id == session_id)) - 2
        s.execute(
            insert(MessageRow).values(
                id=question_id,
                session_id=session_id,
                org_id=org_id,
                seq=seq,
                sender="user",
                content=question,
                complete=True,
                meta={"request_id": request_id} if request_id else {},
                created_at=now,
            )
        )
        s.execute(
            insert(PendingAnswerRow).values(
                message_id=question_id,
                session_id=session_id,
                org_id=org_id,
                user_id=user_id,
                persona_id=persona_id,
                seq=seq,
                worker=worker,
                created_at=now,
            )
        )
    return question_id, seq


def drop_question(db, question_id: str, *, new_session_id: str | None = None) -> None:
    """Undo :func:`store_question` for a refused question (quota, rate limit):
    nothing half written. A session created for it goes too, if still empty."""
    with db.session() as s:
        s.execute(delete(PendingAnswerRow).where(PendingAnswerRow.message_id == question_id))
        s.execute(delete(MessageRow).where(MessageRow.id == question_id))
        if new_session_id is not None:
            left = s.scalar(
                select(func.count())
                .select_from(MessageRow)
                .where(MessageRow.session_id == new_session_id)
            )
            if not left:
                s.execute(delete(SessionRow).where(SessionRow.id == new_session_id))


def store_answer(
    db,
    *,
    question_id: str,
    session_id: str,
    org_id: str,
    seq: int,
    text: str,
    complete: bool,
    meta: dict[str, Any],
) -> str:
    """Store the answer in the seq kept for it and close the pending row; its id."""
    answer_id = new_id()
    now = utcnow()
    with db.session() as s:
        s.execute(
            insert(MessageRow).values(
                id=answer_id,
                session_id=session_id,
                org_id=org_id,
                seq=seq + 1,
                sender="persona",
                content=text,
                complete=complete,
                meta=meta,
                created_at=now,
            )
        )
        s.execute(delete(PendingAnswerRow).where(PendingAnswerRow.message_id == question_id))
        s.execute(update(SessionRow).where(SessionRow.id == session_id).values(updated_at=now))
    return answer_id


def mark_unanswered(db, question_id: str, reason: str, *, recovered: bool = False) -> None:
    """The question stays in the session, marked unanswered; the pending row ends."""
    with db.session() as s:
        row = s.get(MessageRow, question_id)
        if row is not None:
            meta = dict(row.meta or {})
            meta.update(answered=False, error=reason)
            if recovered:
                meta["recovered"] = True
            row.meta = meta
        s.execute(delete(PendingAnswerRow).where(PendingAnswerRow.message_id == question_id))


def interrupted(db, worker: str) -> list[PendingAnswerRow]:
    """Exchanges that can't be in progress any more: the ones this worker identity
    left (written by a process that is gone), and any older than
    :data:`ABANDONED_AFTER` (a worker that was never started again)."""
    old = utcnow() - ABANDONED_AFTER
    with db.session() as s:
        return list(
            s.scalars(
                select(PendingAnswerRow)
                .where(or_(PendingAnswerRow.worker == worker, PendingAnswerRow.created_at < old))
                .order_by(PendingAnswerRow.created_at)
            )
        )

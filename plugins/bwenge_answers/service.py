"""The answer engine and conversation memory (service ``"answers"``).

One question is answered in two steps so transports can refuse early:
:meth:`AnswerEngine.prepare` checks the persona, the session and the
``before_message_answer`` listeners (billing may refuse here, before any
provider call); :meth:`AnswerEngine.run` retrieves, prompts the provider chain,
streams, and stores the exchange. :meth:`stream` and :meth:`answer` do both.
No HTTP here: REST and the chat WebSocket are thin layers over this module.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError

from bwenge.contracts.answers import Answer, AnswerEvent, StoredMessage
from bwenge.contracts.knowledge import RetrievedChunk
from bwenge.contracts.llm import ChatMessage, LLMRequest
from bwenge.contracts.personas import Persona, visible_to
from bwenge.domain import Principal
from bwenge.errors import BadRequest, BwengeError, Conflict, NotFound, ServiceUnavailable
from bwenge.logs import request_id_var
from bwenge.utils import new_id, utcnow

from . import citations as cite
from . import exchanges
from .intents import animation_for, classify
from .models import MessageRow, SessionRow
from .prompt import build_messages
from .settings import AnswersSettings

log = logging.getLogger("bwenge.answers")
_QUESTION_NOISE = re.compile(r"[\W_]+", re.UNICODE)  # what two askings of one question differ in

SESSION_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_FOLLOW_UP = re.compile(
    r"\b(it|its|this|that|these|those|they|them|their|he|she|one|ones|more|else|why|how so|"
    r"again|simpler|simply|example|another|second|first|last|other|previous)\b",
    re.I,
)
FOLLOW_UP_WORDS = 12
_SENTENCE = re.compile(r"[.!?](?:\s|$)")


@dataclass
class Exchange:
    """One question on its way to an answer."""

    principal: Principal | None
    persona: Persona
    session_id: str
    question: str
    history: list[ChatMessage] = field(default_factory=list)
    context: dict[str, Any] = field(default_factory=dict)
    request_id: str | None = None
    started: float = field(default_factory=time.perf_counter)
    passages: list[RetrievedChunk] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    store: bool = True
    retrieval: asyncio.Future | None = None  # started early, while the session is checked
    question_id: str | None = None  # stored before the answer streams (see .exchanges)
    seq: int | None = None
    # what before_message_answer listeners left (billing's reservation), handed to
    # after_message_answer / on_message_answer_error
    hook_state: dict[str, Any] = field(default_factory=dict)


class AnswerEngine:
    """Implements :class:`bwenge.contracts.answers.AnswerService`."""

    def __init__(
        self,
        kernel,
        settings: AnswersSettings,
        *,
        personas: Any = None,
        llm: Any = None,
        retriever: Any = None,
    ):
        self.kernel = kernel
        self.settings = settings
        self.personas, self.llm, self.retriever = personas, llm, retriever
        self._background: set[asyncio.Task] = set()

    # -- personas and sessions ---------------------------------------------------------

    def persona_for(self, principal: Principal, persona_id: str) -> Persona:
        """The persona if the caller may talk to it (recipients: released only)."""
        store = self.personas
        if store is None:
            raise ServiceUnavailable("No persona store is active (enable the personas plugin).")
        persona = store.get(principal.org_id, persona_id) if isinstance(persona_id, str) else None
        if not visible_to(persona, principal):
            raise NotFound("Persona not found")
        return persona

    def _find_session(
        self, principal: Principal, persona_id: str, session_id: str | None
    ) -> tuple[str, bool]:
        """(session id, is new). Someone else's session is a 404, like a missing one."""
        if session_id is None:
            return new_id(), True
        if not SESSION_ID.match(session_id):
            raise BadRequest("session_id must be 1-64 letters, digits or . _ : - characters.")
        with self.kernel.db.session() as s:
            row = s.get(SessionRow, session_id)
            if row is None:
                return session_id, True
            if row.user_id != principal.user_id or row.org_id != principal.org_id:
                raise NotFound("Session not found")
            if row.persona_id != persona_id:
                raise Conflict("This session is a conversation with another persona.")
            return session_id, False

    def _create_session(self, principal: Principal, persona_id: str, session_id: str) -> bool:
        """Create the row; False when a concurrent request created it first."""
        now = utcnow()
        try:
            with self.kernel.db.session() as s:
                s.add(
                    SessionRow(
                        id=session_id,
                        org_id=principal.org_id,
                        user_id=principal.user_id,
                        persona_id=persona_id,
                        message_count=0,
                        created_at=now,
                        updated_at=now,
                    )
                )
        except IntegrityError:
            self._find_session(principal, persona_id, session_id)  # raises unless it's the caller's
            return False
        return True

    def open_session(
        self, principal: Principal, persona_id: str, session_id: str | None = None
    ) -> str:
        """The caller's session with the persona, created when new (sync, for transports)."""
        self.persona_for(principal, persona_id)
        sid, new = self._find_session(principal, persona_id, session_id)
        if new and self._create_session(principal, persona_id, sid):
            self._emit_soon(
                "after_session_start",
                org_id=principal.org_id,
                user_id=principal.user_id,
                session_id=sid,
                persona_id=persona_id,
            )
        return sid

    def _emit_soon(self, hook: str, **data: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.kernel.emit_sync(hook, **data)
            return
        task = loop.create_task(self.kernel.emit(hook, **data))
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def history(
        self, principal: Principal, session_id: str, limit: int = 50, offset: int = 0
    ) -> tuple[list[StoredMessage], int]:
        """Stored messages of the caller's own session, oldest first."""
        with self.kernel.db.session() as s:
            row = s.get(SessionRow, session_id) if isinstance(session_id, str) else None
            if row is None or row.user_id != principal.user_id or row.org_id != principal.org_id:
                raise NotFound("Session not found")
            total = (
                s.scalar(
                    select(func.count())
                    .select_from(MessageRow)
                    .where(MessageRow.session_id == session_id)
                )
                or 0
            )
            rows = s.scalars(
                select(MessageRow)
                .where(MessageRow.session_id == session_id)
                .order_by(MessageRow.seq)
                .offset(max(offset, 0))
                .limit(max(limit, 0))
            ).all()
            return [_stored(r) for r in rows], total

    def sessions(
        self, principal: Principal, persona_id: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The caller's own conversations, most recently active first, each titled
        by its first question. ``persona_id`` must be a persona of the caller's org."""
        if persona_id is not None:
            store = self.personas
            if store is None or store.get(principal.org_id, persona_id) is None:
                raise NotFound("Persona not found")
        with self.kernel.db.session() as s:
            query = select(SessionRow).where(
                SessionRow.org_id == principal.org_id, SessionRow.user_id == principal.user_id
            )
            if persona_id:
                query = query.where(SessionRow.persona_id == persona_id)
            rows = s.scalars(
                query.order_by(SessionRow.updated_at.desc(), SessionRow.id).limit(max(limit, 0))
            ).all()
            ids = [r.id for r in rows]
            first = (
                select(MessageRow.session_id, func.min(MessageRow.seq).label("seq"))
                .where(MessageRow.session_id.in_(ids), MessageRow.sender == "user")
                .group_by(MessageRow.session_id)
                .subquery()
            )
            titles = (
                dict(
                    s.execute(
                        select(MessageRow.session_id, MessageRow.content).join(
                            first,
                            (MessageRow.session_id == first.c.session_id)
                            & (MessageRow.seq == first.c.seq),
                        )
                    ).all()
                )
                if ids
                else {}
            )
        return [
            {
                "session_id": r.id,
                "persona_id": r.persona_id,
                "title": (titles.get(r.id) or "")[:120],
                "message_count": r.message_count,
                "created_at": r.created_at.isoformat(),
                "updated_at": r.updated_at.isoformat(),
            }
            for r in rows
        ]

    def top_questions(
        self,
        org_id: str,
        start: datetime,
        end: datetime,
        persona_ids: frozenset[str] | None = None,
        limit: int = 10,
        scan: int = 20_000,
    ) -> list[dict[str, Any]]:
        """The questions asked most often in ``[start, end)`` (of the most recent
        ``scan``), the same question counted once however it was capitalised or
        punctuated, and shown as first asked; ``persona_ids`` narrows to those
        personas. Ties keep the order questions were first asked in."""
        query = select(MessageRow.content).where(
            MessageRow.org_id == org_id,
            MessageRow.sender == "user",
            MessageRow.created_at >= start,
            MessageRow.created_at < end,
        )
        if persona_ids is not None:
            if not persona_ids:
                return []
            query = query.join(SessionRow, SessionRow.id == MessageRow.session_id).where(
                SessionRow.persona_id.in_(persona_ids)
            )
        with self.kernel.db.session() as s:
            texts = s.scalars(query.order_by(MessageRow.created_at.desc()).limit(scan)).all()
        counts: Counter[str] = Counter()
        shown: dict[str, str] = {}
        for text in reversed(texts):  # oldest first: a question shows as first asked
            key = _QUESTION_NOISE.sub(" ", text.casefold()).strip()
            if key:
                counts[key] += 1
                shown.setdefault(key, text.strip()[:300])
        return [{"question": shown[k], "count": n} for k, n in counts.most_common(limit)]

    def _recent_turns(self, session_id: str) -> list[ChatMessage]:
        """The last ``history_turns`` complete exchanges, as alternating chat turns."""
        n = self.settings.history_turns
        if n == 0:
            return []
        with self.kernel.db.session() as s:
            # plain columns, not ORM objects: this runs before every answer
            rows = s.execute(
                select(MessageRow.sender, MessageRow.content, MessageRow.complete)
                .where(MessageRow.session_id == session_id)
                .order_by(MessageRow.seq.desc())
                .limit(4 * n)
            ).all()
        rows.reverse()
        turns: list[ChatMessage] = []
        for question, reply in zip(rows, rows[1:], strict=False):
            if question.sender == "user" and reply.sender == "persona" and reply.complete:
                turns += [
                    ChatMessage(role="user", content=question.content),
                    ChatMessage(role="assistant", content=reply.content),
                ]
        return turns[-2 * n :]

    # -- answering ---------------------------------------------------------------------

    async def prepare(
        self,
        principal: Principal,
        persona_id: str,
        session_id: str | None,
        user_message: str,
        context: dict[str, Any] | None = None,
        history: list[ChatMessage] | None = None,
    ) -> Exchange:
        """Validate and authorise one question; nothing is sent to a provider yet.

        ``history`` is the client's own transcript, used instead of the stored one
        (clients of OpenAI-style APIs resend the whole conversation, edits and
        regenerations included); it is cut to ``history_turns`` exchanges.

        Raises NotFound (persona/session), BadRequest, or whatever a
        ``before_message_answer`` listener raises (PaymentRequired, TooManyRequests).
        """
        started = time.perf_counter()
        question = (user_message or "").strip()
        if not question:
            raise BadRequest("user_message is empty.")
        if len(question) > self.settings.max_message_chars:
            raise BadRequest(
                f"user_message is longer than {self.settings.max_message_chars} characters."
            )
        persona = self.persona_for(principal, persona_id)
        timings: dict[str, float] = {}
        retrieval = None
        if not self._is_follow_up(question):
            # Retrieval (query embedding, vector search) runs in a thread while the
            # session and the before_message_answer listeners are checked; it is
            # not a provider call, so a refusal below still stops before any.
            retrieval = asyncio.ensure_future(self._retrieve(persona, question, timings))
            retrieval.add_done_callback(_quiet)  # an exchange that is never run must not warn
        rid = request_id_var.get()
        try:
            sid, new = self._find_session(principal, persona_id, session_id)
            stored = [] if new else self._recent_turns(sid)  # before this question is stored
            question_id, seq, hook_state = await self._store_question(
                principal, persona_id, sid, new, question
            )
        except BaseException:
            if retrieval is not None:
                retrieval.cancel()
            raise
        context = dict(context or {})
        if history is not None:
            n = self.settings.history_turns
            history = list(history)[-2 * n :] if n else []
        else:
            history = stored
        if not history and context.get("conversation_history"):
            history = _client_history(context["conversation_history"], self.settings.history_turns)
        exchange = Exchange(
            principal=principal,
            persona=persona,
            session_id=sid,
            question=question,
            history=history,
            context=context,
            request_id=None if rid == "-" else rid,
            started=started,
            timings=timings,
            retrieval=retrieval,
            question_id=question_id,
            seq=seq,
            hook_state=hook_state,
        )
        timings["prepare_ms"] = (time.perf_counter() - started) * 1000
        return exchange

    async def stream(
        self,
        principal: Principal,
        persona_id: str,
        session_id: str | None,
        user_message: str,
        context: dict[str, Any] | None = None,
    ):
        """Answer as :class:`AnswerEvent`s: deltas, resets, then one answer or error.

        Refusals before answering (persona, session, billing) are raised."""
        exchange = await self.prepare(principal, persona_id, session_id, user_message, context)
        async with contextlib.aclosing(self.run(exchange)) as events:
            async for event in events:
                yield event

    async def answer(
        self,
        principal: Principal,
        persona_id: str,
        session_id: str | None,
        user_message: str,
        context: dict[str, Any] | None = None,
    ) -> Answer:
        exchange = await self.prepare(principal, persona_id, session_id, user_message, context)
        return await self.complete(exchange)

    async def complete(self, exchange: Exchange) -> Answer:
        """Run a prepared exchange to its stored answer; errors are raised."""
        async with contextlib.aclosing(self.run(exchange, raise_errors=True)) as events:
            async for event in events:
                if event.type == "answer":
                    return event.answer
        raise ServiceUnavailable("The answer engine ended without an answer.")  # pragma: no cover

    async def preview(self, persona: Persona, question: str) -> Answer:
        """Answer ``question`` as ``persona`` without a session: nothing stored, no
        events (readiness checks of sample dialogs use this)."""
        exchange = Exchange(
            principal=None, persona=persona, session_id="preview", question=question, store=False
        )
        return await self.complete(exchange)

    async def run(self, ex: Exchange, *, raise_errors: bool = False):
        """Retrieve, prompt, stream and store one prepared exchange."""
        shown: list[str] = []  # text the client has seen since the last reset
        finished = False
        try:
            ex.passages = await self._passages(ex)
            llm = self.llm
            if llm is None:
                raise ServiceUnavailable(
                    "No language model provider is active (enable the llm plugin)."
                )
            request = LLMRequest(
                persona=ex.persona,
                question=ex.question,
                passages=ex.passages,
                history=ex.history,
                messages=build_messages(
                    ex.persona,
                    ex.question,
                    ex.passages,
                    ex.history,
                    max_passage_chars=self.settings.max_passage_chars,
                ),
                max_tokens=self.settings.max_answer_tokens,
                request_id=ex.request_id,
                material_pending=not ex.passages and self._material_pending(ex.persona),
            )
            started = time.perf_counter()
            done = None
            async for event in llm.stream(request):
                if event.type == "delta":
                    shown.append(event.text)
                    yield AnswerEvent(type="delta", text=event.text)
                elif event.type == "reset":
                    shown.clear()
                    yield AnswerEvent(type="reset")
                elif event.type == "done":
                    done = event
            ex.timings["provider_ms"] = (time.perf_counter() - started) * 1000
            if done is None:
                raise ServiceUnavailable("The language model ended without an answer.")
            text = done.text or "".join(shown)
            stored = time.perf_counter()
            answer = self._finish(ex, request, text, done.provider, done.usage)
            ex.timings["store_ms"] = (time.perf_counter() - stored) * 1000
            finished = True
            if ex.store:
                await self._answered(ex, request, answer, done.usage)
            yield AnswerEvent(type="answer", text=answer.response_text, answer=answer)
        except (asyncio.CancelledError, GeneratorExit):
            # the client went away: keep what it saw, marked incomplete
            if not finished and ex.store:
                self._store(ex, "".join(shown), None, complete=False)
                await self._failed(ex, "interrupted")
            raise
        except Exception as exc:
            if finished:
                raise
            error = exc if isinstance(exc, BwengeError) else None
            if error is None:
                log.exception("Answering failed")
            code = error.code if error else "internal_error"
            if ex.store:
                self._unanswered(ex, code)
                await self._failed(ex, code, str(exc))
            if raise_errors:
                raise
            message = error.message if error else "Answering failed."
            yield AnswerEvent(type="error", code=code, message=message)

    def _is_follow_up(self, question: str) -> bool:
        """A short question that leans on the conversation ("why?", "explain it more
        simply", "and the second one?")."""
        return len(question.split()) <= FOLLOW_UP_WORDS and bool(_FOLLOW_UP.search(question))

    def _material_pending(self, persona: Persona) -> bool:
        pending = getattr(self.retriever, "pending", None)
        if pending is None:
            return False
        try:
            return pending(persona.org_id, persona.persona_id) > 0
        except Exception:  # noqa: BLE001 - a hint only; never fail the answer for it
            log.debug("counting pending sources failed", exc_info=True)
            return False

    def has_material(self, passages: list[RetrievedChunk]) -> bool:
        """The one "is there material?" decision, on retrieval evidence.

        A passage is material when its dense cosine reaches ``min_relevance``, or
        when it holds ``min_lexical`` of the question's weighted terms and its
        cosine still reaches ``lexical_dense_floor``. Retrievers that give no
        evidence are judged on their ``score``. Providers never re-decide this.
        """
        s = self.settings
        known = [p.dense for p in passages if p.dense is not None]
        floor = min(known) if known else None
        for p in passages:
            dense = p.dense if p.dense is not None else (floor if floor is not None else p.score)
            if dense >= s.min_relevance:
                return True
            if (p.lexical or 0.0) >= s.min_lexical and dense >= s.lexical_dense_floor:
                return True
        return False

    async def _retrieve(self, persona: Persona, query: str, timings: dict[str, float]):
        """The persona's passages for ``query`` when :meth:`has_material` says there is
        material (best first, those far below the best dropped); otherwise none."""
        retriever = self.retriever
        if retriever is None:
            return []
        started = time.perf_counter()
        args: tuple[Any, ...] = (persona.org_id, persona.persona_id, query, self.settings.top_k)
        if inspect.iscoroutinefunction(retriever.retrieve):
            chunks = await retriever.retrieve(*args)
        else:
            chunks = await asyncio.to_thread(retriever.retrieve, *args)
        timings["retrieval_ms"] = (time.perf_counter() - started) * 1000
        chunks = [
            c if isinstance(c, RetrievedChunk) else RetrievedChunk.model_validate(c) for c in chunks
        ]
        timings["material"] = float(self.has_material(chunks))
        if not timings["material"]:
            return []
        chunks.sort(key=lambda c: c.score, reverse=True)
        best = chunks[0].score
        return [c for c in chunks if c.score >= self.settings.keep_ratio * best]

    async def _passages(self, ex: Exchange) -> list[RetrievedChunk]:
        if ex.retrieval is not None:
            return await ex.retrieval
        query = ex.question
        previous = [m.content for m in ex.history if m.role == "user"]
        if previous and self._is_follow_up(query):
            # "explain it more simply" needs the earlier topic: the questions back to
            # the last one that stood on its own
            topic: list[str] = []
            for earlier in reversed(previous[-3:]):
                topic.insert(0, earlier)
                if not self._is_follow_up(earlier):
                    break
            query = " ".join([*topic, query])
        return await self._retrieve(ex.persona, query, ex.timings)

    def _finish(
        self,
        ex: Exchange,
        request: LLMRequest,
        text: str,
        provider: str | None,
        usage: dict[str, Any] | None,
    ) -> Answer:
        used = cite.used_passages(text, ex.passages)
        intent = classify(ex.question)
        hint = animation_for(
            intent,
            cited=bool(used),
            answer_chars=len(text),
            sentences=len(_SENTENCE.findall(text)) or 1,
        )
        answer = Answer(
            response_text=text,
            citations=[cite.to_citation(c) for c in used],
            animation_hint=hint,
            session_id=ex.session_id,
            confidence=cite.confidence(used),
            provider=provider,
            usage=usage,
        )
        if ex.store:
            answer.message_id = self._store(ex, text, answer, complete=True, usage=usage)
        return answer

    def _store(
        self,
        ex: Exchange,
        text: str,
        answer: Answer | None,
        *,
        complete: bool,
        usage: dict[str, Any] | None = None,
    ) -> str:
        """Store the question and its answer in one transaction; returns the answer's id."""
        now = utcnow()
        latency_ms = round((time.perf_counter() - ex.started) * 1000, 1)
        meta: dict[str, Any] = {
            "complete": complete,
            "request_id": ex.request_id,
            "latency_ms": latency_ms,
        }
        if answer is not None:
            meta.update(
                citations=[c.model_dump() for c in answer.citations],
                provider=answer.provider,
                confidence=answer.confidence,
                animation_hint=answer.animation_hint,
            )
        if usage:
            meta["usage"] = usage
        if ex.question_id is not None and ex.seq is not None:  # the question is stored already
            return exchanges.store_answer(
                self.kernel.db,
                question_id=ex.question_id,
                session_id=ex.session_id,
                org_id=ex.persona.org_id,
                seq=ex.seq,
                text=text,
                complete=complete,
                meta=meta,
            )
        answer_id = new_id()
        with self.kernel.db.session() as s:
            # bump the counter first: it takes the write lock, so concurrent
            # exchanges in one session get distinct sequence numbers
            s.execute(
                update(SessionRow)
                .where(SessionRow.id == ex.session_id)
                .values(message_count=SessionRow.message_count + 2, updated_at=now)
            )
            count = s.scalar(select(SessionRow.message_count).where(SessionRow.id == ex.session_id))
            base = {"session_id": ex.session_id, "org_id": ex.persona.org_id, "created_at": now}
            s.execute(
                insert(MessageRow),
                [
                    {
                        **base,
                        "id": new_id(),
                        "seq": count - 2,
                        "sender": "user",
                        "content": ex.question,
                        "complete": True,
                        "meta": {},
                    },
                    {
                        **base,
                        "id": answer_id,
                        "seq": count - 1,
                        "sender": "persona",
                        "content": text,
                        "complete": complete,
                        "meta": meta,
                    },
                ],
            )
        return answer_id

    async def _answered(
        self, ex: Exchange, request: LLMRequest, answer: Answer, usage: dict[str, Any] | None
    ) -> None:
        latency_ms = round((time.perf_counter() - ex.started) * 1000, 1)
        prompt_chars = sum(len(m.content) for m in request.messages)
        tokens = (usage or {}).get("total_tokens")
        await self.kernel.emit(
            "after_message_answer",
            org_id=ex.persona.org_id,
            user_id=ex.principal.user_id if ex.principal else None,
            persona_id=ex.persona.persona_id,
            session_id=ex.session_id,
            message_id=answer.message_id,
            provider=answer.provider,
            latency_ms=latency_ms,
            prompt_chars=prompt_chars,
            answer_chars=len(answer.response_text),
            tokens=tokens,
            usage=usage,
            citations=len(answer.citations),
            confidence=answer.confidence,
            retrieval_ms=round(ex.timings.get("retrieval_ms", 0.0), 2),
            provider_ms=round(ex.timings.get("provider_ms", 0.0), 2),
            prepare_ms=round(ex.timings.get("prepare_ms", 0.0), 2),
            store_ms=round(ex.timings.get("store_ms", 0.0), 2),
            request_id=ex.request_id,
            exchange_id=ex.question_id,
            state=ex.hook_state,
        )

    async def _failed(self, ex: Exchange, code: str, message: str | None = None) -> None:
        """Tell listeners (billing) the question they let through wasn't answered."""
        try:
            import anyio

            with anyio.CancelScope(shield=True):  # runs even while the request is being cancelled
                await self.kernel.emit(
                    "on_message_answer_error",
                    org_id=ex.persona.org_id,
                    user_id=ex.principal.user_id if ex.principal else None,
                    persona_id=ex.persona.persona_id,
                    session_id=ex.session_id,
                    error=code,
                    message=message,
                    request_id=ex.request_id,
                    exchange_id=ex.question_id,
                    state=ex.hook_state,
                )
        except BaseException:  # noqa: BLE001 - never mask the original failure
            log.exception("on_message_answer_error listeners failed")

    # -- the exchange's storage lifecycle (see .exchanges) ---------------------------------

    async def _store_question(
        self, principal: Principal, persona_id: str, sid: str, new: bool, question: str
    ) -> tuple[str, int, dict[str, Any]]:
        """Store the question, then let ``before_message_answer`` listeners (billing)
        refuse or reserve against its id. A refusal removes it again. Returns the
        question's id and seq, and the state the listeners left on the event."""
        created = new and self._create_session(principal, persona_id, sid)
        rid = request_id_var.get()
        question_id, seq = exchanges.store_question(
            self.kernel.db,
            session_id=sid,
            org_id=principal.org_id,
            user_id=principal.user_id,
            persona_id=persona_id,
            question=question,
            worker=self.kernel.worker_id,
            request_id=None if rid == "-" else rid,
        )
        try:
            before = await self.kernel.emit(
                "before_message_answer",
                org_id=principal.org_id,
                user_id=principal.user_id,
                persona_id=persona_id,
                session_id=sid,
                exchange_id=question_id,
            )
        except BaseException:
            exchanges.drop_question(
                self.kernel.db, question_id, new_session_id=sid if created else None
            )
            raise
        if created:
            await self.kernel.emit(
                "after_session_start",
                org_id=principal.org_id,
                user_id=principal.user_id,
                session_id=sid,
                persona_id=persona_id,
            )
        return question_id, seq, before.state

    def _unanswered(self, ex: Exchange, code: str) -> None:
        """A failed answer (every provider down...) leaves nothing: the client got
        the error and asks again. Only a crash leaves an unanswered question."""
        if ex.question_id is not None:
            try:
                exchanges.drop_question(self.kernel.db, ex.question_id)
            except Exception:  # noqa: BLE001 - the failure being reported matters more
                log.exception("Could not remove unanswered question %s", ex.question_id)

    async def recover_interrupted(self) -> int:
        """At start-up: exchanges this worker's previous process left without an
        answer (it was killed mid-answer). Each question is kept, marked
        unanswered, and what listeners reserved for it (the message quota) is given
        back. Returns how many were recovered."""
        rows = await asyncio.to_thread(exchanges.interrupted, self.kernel.db, self.kernel.worker_id)
        for row in rows:
            try:
                # listeners first: a crash in between repeats the (idempotent) release
                await self.kernel.emit(
                    "on_message_answer_error",
                    org_id=row.org_id,
                    user_id=row.user_id,
                    persona_id=row.persona_id,
                    session_id=row.session_id,
                    error="interrupted",
                    message="the server stopped before the answer was stored",
                    request_id=None,
                    exchange_id=row.message_id,
                )
                await asyncio.to_thread(
                    exchanges.mark_unanswered,
                    self.kernel.db,
                    row.message_id,
                    "interrupted",
                    recovered=True,
                )
            except Exception:  # noqa: BLE001 - the next start tries again
                log.exception("Recovering exchange %s failed", row.message_id)
        if rows:
            log.info(
                "Recovered %d exchange(s) interrupted before their answer was stored", len(rows)
            )
        return len(rows)


def _quiet(future: asyncio.Future) -> None:
    """Consume the outcome of a retrieval nobody will wait for."""
    if not future.cancelled():
        future.exception()


def _stored(row: MessageRow) -> StoredMessage:
    meta = dict(row.meta or {})
    meta.setdefault("complete", row.complete)
    return StoredMessage(
        message_id=row.id,
        session_id=row.session_id,
        sender=row.sender,
        content=row.content,
        timestamp=row.created_at,
        metadata=meta,
    )


def _client_history(items: list[Any], turns: int) -> list[ChatMessage]:
    """Seed clients sent their own history; use it (user/assistant turns only) when
    the server has none for the session yet."""
    out = []
    for item in items[-2 * turns :] if turns else []:
        role = item.get("role") if isinstance(item, dict) else getattr(item, "role", None)
        content = item.get("content") if isinstance(item, dict) else getattr(item, "content", None)
        if role in ("user", "assistant") and isinstance(content, str) and content.strip():
            out.append(ChatMessage(role=role, content=content))
    return out

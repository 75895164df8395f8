"""Analytics logic: record events, aggregate them into reports. No HTTP here.

Every read takes a :class:`~bwenge.domain.Principal` and is scoped by it:
owners and admins see their whole org, experts only the personas they created,
recipients only their own progress. Aggregation happens in SQL (GROUP BY), and
message counts come from a daily rollup kept current on insert, so a week of a
million answered messages is two range scans of a ~100k-row primary key.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, delete, distinct, func, insert, select
from sqlalchemy.exc import IntegrityError

from bwenge.domain import Principal, Role
from bwenge.errors import BadRequest, Forbidden, NotFound, PayloadTooLarge
from bwenge.utils import utcnow

from .models import AnalyticsEvent, DailyMessages, WeeklyReport
from .settings import AnalyticsSettings

log = logging.getLogger("bwenge.analytics")

# Event types recorded from the kernel's hooks. Clients may not send these:
# they would let anyone inflate their org's reports.
MESSAGE_ANSWERED = "message.answered"
SOURCE_INGESTED = "source.ingested"
SESSION_STARTED = "session.started"
MEMBER_JOINED = "member.joined"
SERVER_EVENT_TYPES = frozenset({MESSAGE_ANSWERED, SOURCE_INGESTED, SESSION_STARTED, MEMBER_JOINED})
CLIENT_EVENT_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,31}(\.[a-z0-9_]{1,31}){0,3}$")

MAX_WEEK_OFFSET = 520
MAX_DAYS = 366
CSV_COLUMNS = ("at", "event_type", "user_id", "persona_id", "session_id", "payload")
_CSV_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def week_bounds(week_offset: int, now: datetime | None = None) -> tuple[datetime, datetime]:
    """[Monday 00:00 UTC, next Monday) of the week ``week_offset`` weeks ago."""
    now = (now or utcnow()).astimezone(UTC)
    monday = datetime.combine(now.date() - timedelta(days=now.weekday()), datetime.min.time(), UTC)
    start = monday - timedelta(weeks=week_offset)
    return start, start + timedelta(days=7)


@dataclass(frozen=True)
class Scope:
    """What part of an org a caller may see: all of it (``persona_ids`` None)
    or only the listed personas' activity."""

    org_id: str
    persona_ids: frozenset[str] | None = None

    @property
    def label(self) -> str:
        return "org" if self.persona_ids is None else "own_personas"

    @property
    def empty(self) -> bool:
        return self.persona_ids is not None and not self.persona_ids


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheets run cells starting with these as formulas (CSV injection).
    return "'" + text if text.startswith(_CSV_FORMULA) else text


class AnalyticsService:
    """Published as the ``"analytics"`` service."""

    def __init__(
        self,
        kernel: Any,
        settings: AnalyticsSettings,
        *,
        personas: Any = None,
        auth: Any = None,
        answers: Any = None,
    ):
        self.kernel = kernel
        self.settings = settings
        self.personas, self.auth, self.answers = personas, auth, answers

    @property
    def db(self):
        return self.kernel.db

    # -- recording ---------------------------------------------------------------

    def record(
        self,
        *,
        org_id: str,
        event_type: str,
        user_id: str | None = None,
        persona_id: str | None = None,
        session_id: str | None = None,
        payload: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> int:
        """Store one event (and count an answered message in the daily rollup, in
        the same transaction); returns its id."""
        at = at or utcnow()
        with self.db.session() as s:
            row = AnalyticsEvent(
                org_id=org_id,
                user_id=user_id,
                persona_id=persona_id,
                session_id=session_id,
                event_type=event_type,
                payload=payload or {},
                at=at,
            )
            s.add(row)
            s.flush()
            if event_type == MESSAGE_ANSWERED:
                self._count_message(s, org_id, at, persona_id, user_id, session_id)
            return row.id

    def _count_message(
        self,
        s,
        org_id: str,
        at: datetime,
        persona_id: str | None,
        user_id: str | None,
        session_id: str | None,
    ) -> None:
        from sqlalchemy.dialects import postgresql, sqlite

        insert: Any = postgresql.insert if self.db.dialect == "postgresql" else sqlite.insert
        d = DailyMessages
        stmt = insert(d).values(
            org_id=org_id,
            day=at.astimezone(UTC).date().isoformat(),
            persona_id=persona_id or "",
            user_id=user_id or "",
            session_id=session_id or "",
            messages=1,
        )
        # An atomic upsert: concurrent writers never lose a count.
        s.execute(
            stmt.on_conflict_do_update(
                index_elements=[d.org_id, d.day, d.persona_id, d.user_id, d.session_id],
                set_={"messages": d.messages + 1},
            )
        )

    def rebuild_rollup(self) -> int:
        """Recompute the daily message rollup from the raw events (after a bulk
        import or a restore). Returns the number of rollup rows."""
        e, d = AnalyticsEvent, DailyMessages
        day = self._day()
        pid, uid, sid = (func.coalesce(c, "") for c in (e.persona_id, e.user_id, e.session_id))
        grouped = (
            select(e.org_id, day, pid, uid, sid, func.count())
            .where(e.event_type == MESSAGE_ANSWERED)
            .group_by(e.org_id, day, pid, uid, sid)
        )
        with self.db.session() as s:
            s.execute(delete(d))
            s.execute(
                insert(d).from_select(
                    ["org_id", "day", "persona_id", "user_id", "session_id", "messages"], grouped
                )
            )
            return s.execute(select(func.count()).select_from(d)).scalar_one()

    def record_client_event(
        self,
        principal: Principal,
        event_type: str,
        payload: dict[str, Any] | None,
        persona_id: str | None = None,
        session_id: str | None = None,
    ) -> dict[str, Any]:
        """A client-side event (quiz result, page view...). Org, user and time
        come from the server, never from the client."""
        if not CLIENT_EVENT_TYPE.match(event_type or ""):
            raise BadRequest(
                "event_type must be lowercase words separated by dots, e.g. "
                "'quiz.completed' (at most 4 parts of 31 characters).",
                code="invalid_event_type",
            )
        if event_type in SERVER_EVENT_TYPES:
            raise BadRequest(
                f"{event_type!r} is recorded by the server and cannot be sent.",
                code="reserved_event_type",
            )
        payload = payload or {}
        size = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
        if size > self.settings.max_payload_bytes:
            raise PayloadTooLarge(
                f"payload is {size} bytes; the limit is {self.settings.max_payload_bytes}."
            )
        if persona_id is not None and self._persona(principal.org_id, persona_id) is None:
            raise NotFound("Persona not found")
        at = utcnow()
        event_id = self.record(
            org_id=principal.org_id,
            user_id=principal.user_id,
            persona_id=persona_id,
            session_id=session_id,
            event_type=event_type,
            payload=payload,
            at=at,
        )
        return {
            "event_id": event_id,
            "event_type": event_type,
            "recorded_at": at.isoformat(),
            "status": "recorded",
        }

    # -- personas and members (other plugins' services) --------------------------------

    def _personas(self):
        return self.personas

    def _persona(self, org_id: str, persona_id: str) -> Any | None:
        personas = self._personas()
        if personas is None:
            return None
        try:
            return personas.get(org_id, persona_id)
        except NotFound:
            return None

    def _persona_names(self, org_id: str, ids: list[str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for pid in ids:
            persona = self._persona(org_id, pid) if pid else None
            names[pid] = getattr(persona, "name", None) or "(deleted persona)"
        return names

    def _is_member(self, org_id: str, user_id: str) -> bool:
        """Whether ``user_id`` belongs to ``org_id``: asked of the auth plugin's
        ``get_user`` when it is active, else known from this org's recorded events."""
        get_user = getattr(self.auth, "get_user", None)
        if get_user is not None:
            user = get_user(user_id)
            return user is not None and getattr(user, "org_id", None) == org_id
        with self.db.session() as s:
            e = AnalyticsEvent
            found = s.execute(
                select(e.id).where(e.org_id == org_id, e.user_id == user_id).limit(1)
            ).first()
        return found is not None

    def scope_for(self, principal: Principal, org_id: str) -> Scope:
        """The caller's view of ``org_id``; another org is a 404 like a missing one."""
        if org_id != principal.org_id:
            raise NotFound("Organization not found")
        if principal.role in (Role.OWNER, Role.ADMIN):
            return Scope(org_id)
        if principal.role == Role.EXPERT:
            personas = self._personas()
            own: set[str] = set()
            if personas is not None:
                for p in personas.list(org_id):
                    if getattr(p, "created_by", None) == principal.user_id:
                        own.add(p.persona_id)
            return Scope(org_id, frozenset(own))
        raise Forbidden("Reports are for experts and admins.")

    # -- SQL helpers -------------------------------------------------------------

    def _day(self):
        """``at`` as a 'YYYY-MM-DD' UTC day, per dialect."""
        if self.db.dialect == "sqlite":
            # UTCDateTime stores UTC text 'YYYY-MM-DD HH:MM:SS...' on SQLite.
            return func.substr(AnalyticsEvent.at, 1, 10)
        return func.to_char(func.timezone("UTC", AnalyticsEvent.at), "YYYY-MM-DD")

    @staticmethod
    def _where(
        scope: Scope,
        start: datetime,
        end: datetime,
        event_type: str | None = None,
        user_id: str | None = None,
    ) -> list[Any]:
        e = AnalyticsEvent
        clauses = [e.org_id == scope.org_id]
        if event_type is not None:
            clauses.append(e.event_type == event_type)
        if user_id is not None:
            clauses.append(e.user_id == user_id)
        clauses += [e.at >= start, e.at < end]
        if scope.persona_ids is not None:
            clauses.append(e.persona_id.in_(sorted(scope.persona_ids)))
        return clauses

    def _message_stats(self, s, scope: Scope, start: date, end: date, top: int) -> dict[str, Any]:
        """Answered messages in the UTC days [start, end), from the daily rollup."""
        d = DailyMessages
        where = [d.org_id == scope.org_id, d.day >= start.isoformat(), d.day < end.isoformat()]
        if scope.persona_ids is not None:
            where.append(d.persona_id.in_(sorted(scope.persona_ids)))
        # Two scans of the rollup. Grouping by (day, persona) follows the primary
        # key's order, so it streams without a sort; totals per day and per persona
        # are summed from those few groups here.
        per_day: dict[str, int] = {}
        per_persona: dict[str, int] = {}
        for day, pid, n in s.execute(
            select(d.day, d.persona_id, func.sum(d.messages))
            .where(*where)
            .group_by(d.day, d.persona_id)
        ):
            per_day[day] = per_day.get(day, 0) + int(n)
            if pid:
                per_persona[pid] = per_persona.get(pid, 0) + int(n)
        users, sessions = s.execute(
            select(
                func.count(distinct(func.nullif(d.user_id, ""))),
                func.count(distinct(func.nullif(d.session_id, ""))),
            ).where(*where)
        ).one()
        persona_rows = sorted(per_persona.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        return {
            "per_day": per_day,
            "users": users or 0,
            "sessions": sessions or 0,
            "personas": [(pid, int(n)) for pid, n in persona_rows],
        }

    # -- weekly report -------------------------------------------------------------

    def compute_weekly(self, scope: Scope, start: datetime, end: datetime) -> dict[str, Any]:
        """The seed's weekly report shape for [start, end)."""
        stats: dict[str, Any] = {"per_day": {}, "users": 0, "sessions": 0, "personas": []}
        if not scope.empty:
            with self.db.session() as s:
                stats = self._message_stats(
                    s, scope, start.date(), end.date(), self.settings.top_personas
                )
        per_day: dict[str, int] = stats["per_day"]
        total = sum(per_day.values())
        names = self._persona_names(scope.org_id, [pid for pid, _ in stats["personas"]])
        daily = {
            (start.date() + timedelta(days=i)).isoformat(): 0 for i in range((end - start).days)
        }
        daily.update(per_day)
        peak = max(per_day.items(), key=lambda kv: (kv[1], kv[0]))[0] if per_day else None
        return {
            "org_id": scope.org_id,
            "week_start": start.isoformat(),
            "week_end": end.isoformat(),
            "total_messages": total,
            "active_users": stats["users"],
            "top_personas": [
                {"persona_id": pid, "name": names[pid], "interaction_count": n}
                for pid, n in stats["personas"]
            ],
            "usage_stats": {
                "total_conversations": stats["sessions"],
                "avg_messages_per_conversation": round(total / stats["sessions"], 2)
                if stats["sessions"]
                else 0.0,
                "peak_usage_day": peak,
                "daily_messages": daily,
            },
            "top_questions": self._top_questions(scope, start, end),
            "scope": scope.label,
            "generated_at": utcnow().isoformat(),
        }

    def _top_questions(self, scope: Scope, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """Asked most often, from the conversations the answers service keeps
        (empty without it)."""
        top = getattr(self.answers, "top_questions", None)
        if top is None or scope.empty:
            return []
        return top(scope.org_id, start, end, scope.persona_ids, self.settings.top_questions)

    def weekly_report(
        self, principal: Principal, org_id: str, week_offset: int = 0, now: datetime | None = None
    ) -> dict[str, Any]:
        """A finished week's org-wide report is served from storage (stored now if the
        job hasn't yet); the current week, and experts' views, are computed live."""
        if not 0 <= week_offset <= MAX_WEEK_OFFSET:
            raise BadRequest(f"week_offset must be between 0 and {MAX_WEEK_OFFSET}.")
        scope = self.scope_for(principal, org_id)
        start, end = week_bounds(week_offset, now)
        if week_offset == 0 or scope.persona_ids is not None:
            return {**self.compute_weekly(scope, start, end), "stored": False}
        return self.store_week(org_id, start)

    def stored_report(self, org_id: str, week_start: datetime) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.execute(
                select(WeeklyReport).where(
                    WeeklyReport.org_id == org_id, WeeklyReport.week_start == week_start
                )
            ).scalar_one_or_none()
            return None if row is None else {**row.data, "stored": True}

    def store_week(self, org_id: str, week_start: datetime) -> dict[str, Any]:
        """Return the stored report of a finished week, computing and storing it
        first when missing. Safe when several workers race: one insert wins."""
        existing = self.stored_report(org_id, week_start)
        if existing is not None:
            return existing
        data = self.compute_weekly(Scope(org_id), week_start, week_start + timedelta(days=7))
        try:
            with self.db.session() as s:
                s.add(
                    WeeklyReport(
                        org_id=org_id, week_start=week_start, data=data, created_at=utcnow()
                    )
                )
        except IntegrityError:  # another worker stored it first; serve theirs
            return self.stored_report(org_id, week_start) or {**data, "stored": True}
        return {**data, "stored": True}

    def store_finished_weeks(self, now: datetime | None = None) -> int:
        """The scheduled job: store reports of the last finished week(s) for every
        org with activity then. Returns how many reports it stored."""
        stored = 0
        for offset in range(1, self.settings.report_job_weeks_back + 1):
            start, end = week_bounds(offset, now)
            with self.db.session() as s:
                orgs = [
                    o
                    for (o,) in s.execute(
                        select(AnalyticsEvent.org_id)
                        .distinct()
                        .where(AnalyticsEvent.at >= start, AnalyticsEvent.at < end)
                    )
                ]
                have = {
                    o
                    for (o,) in s.execute(
                        select(WeeklyReport.org_id).where(WeeklyReport.week_start == start)
                    )
                }
            for org_id in sorted(set(orgs) - have):
                self.store_week(org_id, start)
                stored += 1
        return stored

    # -- progress --------------------------------------------------------------------

    def progress(
        self,
        principal: Principal,
        org_id: str,
        student_id: str,
        days: int = 30,
        now: datetime | None = None,
    ) -> dict[str, Any]:
        """One recipient's learning activity over the last ``days`` days."""
        if not 1 <= days <= MAX_DAYS:
            raise BadRequest(f"days must be between 1 and {MAX_DAYS}.")
        if org_id != principal.org_id:
            raise NotFound("Organization not found")
        if principal.role == Role.RECIPIENT:
            if student_id != principal.user_id:
                raise Forbidden("Recipients may only see their own progress.")
            scope = Scope(org_id)
        else:
            scope = self.scope_for(principal, org_id)
        if not self._is_member(org_id, student_id):
            raise NotFound("Student not found")
        end = (now or utcnow()).astimezone(UTC)
        start = end - timedelta(days=days)
        e = AnalyticsEvent
        per_day: dict[str, dict[str, int]] = {}
        personas: list[tuple[str, int]] = []
        conversations = 0
        if not scope.empty:
            where = and_(*self._where(scope, start, end, user_id=student_id))
            day = self._day().label("day")
            is_message = func.sum(case((e.event_type == MESSAGE_ANSWERED, 1), else_=0))
            with self.db.session() as s:
                for d, n, msgs in s.execute(
                    select(day, func.count(), is_message).where(where).group_by(day).order_by(day)
                ):
                    per_day[d] = {"interactions": n, "messages": int(msgs or 0)}
                personas = s.execute(
                    select(e.persona_id, func.count())
                    .where(where, e.persona_id.is_not(None))
                    .group_by(e.persona_id)
                    .order_by(func.count().desc(), e.persona_id)
                ).all()
                conversations = (
                    s.execute(
                        select(func.count(distinct(e.session_id))).where(
                            where, e.event_type == MESSAGE_ANSWERED
                        )
                    ).scalar_one()
                    or 0
                )
        interactions = sum(v["interactions"] for v in per_day.values())
        messages = sum(v["messages"] for v in per_day.values())
        active_days = len(per_day)
        names = self._persona_names(org_id, [pid for pid, _ in personas])
        daily = []
        for i in range(days, -1, -1):
            d = (end - timedelta(days=i)).date().isoformat()
            if i == days and d not in per_day:
                continue  # the partial first day only when it has activity
            daily.append({"date": d, **per_day.get(d, {"interactions": 0, "messages": 0})})
        return {
            "student_id": student_id,
            "org_id": org_id,
            "period": {"start": start.isoformat(), "end": end.isoformat(), "days": days},
            "learning_metrics": {
                "total_interactions": interactions,
                "total_conversations": conversations,
                "total_messages": messages,
                "avg_conversation_length": round(messages / conversations, 2)
                if conversations
                else 0.0,
                "active_days": active_days,
                "engagement_score": engagement_score(active_days, messages, days),
            },
            "daily_activity": daily,
            "persona_interactions": [
                {"persona_id": pid, "name": names[pid], "interaction_count": n}
                for pid, n in personas
            ],
            "progress_trend": trend(per_day, start, end),
            "scope": scope.label,
        }

    # -- dashboard -------------------------------------------------------------------

    def dashboard(
        self, principal: Principal, org_id: str, now: datetime | None = None
    ) -> dict[str, Any]:
        """Headline numbers over whole UTC days: today, the last 7 and the last 30
        (today included), and messages per day for the last 14."""
        scope = self.scope_for(principal, org_id)
        now = (now or utcnow()).astimezone(UTC)
        today = now.date()
        tomorrow, d7, d30 = (
            today + timedelta(days=1),
            today - timedelta(days=6),
            today - timedelta(days=29),
        )
        since_d30 = datetime.combine(d30, datetime.min.time(), UTC)
        totals = dict.fromkeys(
            (
                "messages_today",
                "messages_7d",
                "messages_30d",
                "active_users_7d",
                "active_users_30d",
                "conversations_30d",
                "sessions_started_30d",
                "sources_ingested_30d",
                "members_joined_30d",
            ),
            0,
        )
        stats: dict[str, Any] = {"per_day": {}, "personas": []}
        if not scope.empty:
            top = self.settings.top_personas
            with self.db.session() as s:
                stats = self._message_stats(s, scope, d30, tomorrow, top)
                totals["active_users_7d"] = self._message_stats(s, scope, d7, tomorrow, 0)["users"]
                for key, kind in (
                    ("sessions_started_30d", SESSION_STARTED),
                    ("sources_ingested_30d", SOURCE_INGESTED),
                    ("members_joined_30d", MEMBER_JOINED),
                ):
                    totals[key] = s.execute(
                        select(func.count()).where(
                            *self._where(scope, since_d30, now + timedelta(seconds=1), kind)
                        )
                    ).scalar_one()
            per_day = stats["per_day"]
            totals["messages_today"] = per_day.get(today.isoformat(), 0)
            totals["messages_7d"] = sum(n for d, n in per_day.items() if d >= d7.isoformat())
            totals["messages_30d"] = sum(per_day.values())
            totals["active_users_30d"] = stats["users"]
            totals["conversations_30d"] = stats["sessions"]
        names = self._persona_names(org_id, [pid for pid, _ in stats["personas"]])
        days = [(today - timedelta(days=i)).isoformat() for i in range(13, -1, -1)]
        return {
            "org_id": org_id,
            "scope": scope.label,
            "generated_at": now.isoformat(),
            "totals": totals,
            "daily_messages": [{"date": d, "messages": stats["per_day"].get(d, 0)} for d in days],
            "top_personas": [
                {"persona_id": pid, "name": names[pid], "interaction_count": n}
                for pid, n in stats["personas"]
            ],
        }

    # -- CSV export ------------------------------------------------------------------

    def export_events_csv(
        self, principal: Principal, org_id: str, days: int = 30, event_type: str | None = None
    ) -> Iterator[str]:
        """CSV lines of the caller's view of the org's events, oldest first.
        Scope is checked before the first line is produced."""
        if not 1 <= days <= MAX_DAYS:
            raise BadRequest(f"days must be between 1 and {MAX_DAYS}.")
        scope = self.scope_for(principal, org_id)
        end = utcnow()
        start = end - timedelta(days=days)
        return self._csv_lines(scope, start, end, event_type)

    def _csv_lines(
        self, scope: Scope, start: datetime, end: datetime, event_type: str | None
    ) -> Iterator[str]:
        buf = io.StringIO()
        writer = csv.writer(buf)

        def flush() -> str:
            text = buf.getvalue()
            buf.seek(0)
            buf.truncate()
            return text

        writer.writerow(CSV_COLUMNS)
        yield flush()
        if scope.empty:
            return
        e = AnalyticsEvent
        query = (
            select(e.at, e.event_type, e.user_id, e.persona_id, e.session_id, e.payload)
            .where(*self._where(scope, start, end, event_type))
            .order_by(e.at, e.id)
            .limit(self.settings.export_max_rows)
        )
        with self.db.session() as s:
            for n, row in enumerate(s.execute(query.execution_options(yield_per=2000)), 1):
                writer.writerow(
                    [
                        row.at.isoformat(),
                        *map(_csv_cell, row[1:5]),
                        _csv_cell(json.dumps(row.payload, separators=(",", ":"))),
                    ]
                )
                if n % 500 == 0:
                    yield flush()
        yield flush()

    def weekly_report_csv(self, report: dict[str, Any]) -> str:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(("metric", "value"))
        for key in ("org_id", "week_start", "week_end", "total_messages", "active_users"):
            w.writerow((key, report[key]))
        for key in ("total_conversations", "avg_messages_per_conversation", "peak_usage_day"):
            w.writerow((key, report["usage_stats"][key]))
        w.writerow(())
        w.writerow(("persona_id", "name", "interaction_count"))
        for p in report["top_personas"]:
            w.writerow((p["persona_id"], _csv_cell(p["name"]), p["interaction_count"]))
        w.writerow(())
        w.writerow(("date", "messages"))
        for d, n in report["usage_stats"]["daily_messages"].items():
            w.writerow((d, n))
        return buf.getvalue()


def engagement_score(active_days: int, messages: int, days: int) -> float:
    """0–100: 60 % how regularly the student shows up (active days / period),
    40 % how much they engage on those days (10 messages a day counts as full)."""
    if not active_days:
        return 0.0
    regularity = active_days / max(1, days)
    intensity = min(1.0, messages / active_days / 10)
    return round(100 * min(1.0, 0.6 * regularity + 0.4 * intensity), 1)


def trend(per_day: dict[str, dict[str, int]], start: datetime, end: datetime) -> str:
    """'increasing', 'decreasing' or 'stable' comparing the period's halves
    (±10 %), 'no_activity' when there was none."""
    middle = (start + (end - start) / 2).date()
    first = sum(v["interactions"] for d, v in per_day.items() if date.fromisoformat(d) < middle)
    second = sum(v["interactions"] for d, v in per_day.items() if date.fromisoformat(d) >= middle)
    if first == second == 0:
        return "no_activity"
    if second > first * 1.1:
        return "increasing"
    if second < first * 0.9:
        return "decreasing"
    return "stable"

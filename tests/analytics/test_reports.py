"""Weekly reports, progress and dashboard through the REST API, org-scoped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from bwenge_analytics.service import MESSAGE_ANSWERED, week_bounds
from bwenge_analytics.services import analytics_service

from .conftest import answered, emit, make_persona

WEEKLY_KEYS = {
    "org_id",
    "week_start",
    "week_end",
    "total_messages",
    "active_users",
    "top_personas",
    "usage_stats",
}
USAGE_KEYS = {"total_conversations", "avg_messages_per_conversation", "peak_usage_day"}
PROGRESS_KEYS = {
    "student_id",
    "period",
    "learning_metrics",
    "daily_activity",
    "persona_interactions",
    "progress_trend",
}
METRIC_KEYS = {
    "total_interactions",
    "total_conversations",
    "total_messages",
    "avg_conversation_length",
    "active_days",
    "engagement_score",
}


@pytest.fixture
def world(client, make_user):
    """Org A (owner, expert, two recipients, two personas) and org B, with activity."""
    owner = make_user(client)
    expert = make_user(client, role="expert", org=owner)
    alice = make_user(client, role="recipient", org=owner)
    bob = make_user(client, role="recipient", org=owner)
    other = make_user(client)
    other_student = make_user(client, role="recipient", org=other)
    math = make_persona(client, owner, "Math Tutor")
    bio = make_persona(client, expert, "Biology Coach")
    other_persona = make_persona(client, other, "Other Org Persona")

    answered(client, alice, math, n=3)
    answered(client, alice, bio, n=1)
    answered(client, bob, math, n=2)
    answered(client, other_student, other_persona, n=7)  # must never show up in org A
    return {
        "owner": owner,
        "expert": expert,
        "alice": alice,
        "bob": bob,
        "other": other,
        "other_student": other_student,
        "math": math,
        "bio": bio,
    }


@pytest.mark.all_databases
def test_weekly_report_counts_only_its_own_org_in_seed_shape(client, world):
    owner, other = world["owner"], world["other"]
    r = client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=owner.headers)
    assert r.status_code == 200, r.text
    report = r.json()
    assert WEEKLY_KEYS <= report.keys() and USAGE_KEYS <= report["usage_stats"].keys()
    assert report["org_id"] == owner.org_id
    assert report["total_messages"] == 6
    assert report["active_users"] == 2
    assert report["top_personas"] == [
        {"persona_id": world["math"], "name": "Math Tutor", "interaction_count": 5},
        {"persona_id": world["bio"], "name": "Biology Coach", "interaction_count": 1},
    ]
    usage = report["usage_stats"]
    assert usage["total_conversations"] == 3
    assert usage["avg_messages_per_conversation"] == 2.0
    assert usage["peak_usage_day"] == datetime.now(UTC).date().isoformat()
    start, end = week_bounds(0)
    assert report["week_start"] == start.isoformat() and report["week_end"] == end.isoformat()

    theirs = client.get(f"/orgs/{other.org_id}/reports/weekly", headers=other.headers).json()
    assert theirs["total_messages"] == 7 and theirs["active_users"] == 1

    # Another org's report is a 404 like a missing org; recipients get none.
    assert (
        client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=other.headers).status_code == 404
    )
    assert client.get("/orgs/no-such-org/reports/weekly", headers=owner.headers).status_code == 404
    assert (
        client.get(
            f"/orgs/{owner.org_id}/reports/weekly", headers=world["alice"].headers
        ).status_code
        == 403
    )
    assert (
        client.get(
            f"/orgs/{owner.org_id}/reports/weekly?week_offset=-1", headers=owner.headers
        ).status_code
        == 422
    )


def test_experts_see_only_their_own_personas(client, world):
    expert, owner = world["expert"], world["owner"]
    report = client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=expert.headers).json()
    assert report["scope"] == "own_personas"
    assert report["total_messages"] == 1 and report["active_users"] == 1
    assert [p["persona_id"] for p in report["top_personas"]] == [world["bio"]]

    dash = client.get(f"/orgs/{owner.org_id}/dashboard", headers=expert.headers).json()
    assert dash["totals"]["messages_30d"] == 1
    full = client.get(f"/orgs/{owner.org_id}/dashboard", headers=owner.headers).json()
    assert full["scope"] == "org" and full["totals"]["messages_30d"] == 6
    assert full["totals"]["messages_today"] == 6
    assert full["totals"]["active_users_7d"] == 2
    assert full["totals"]["members_joined_30d"] >= 3  # from auth's after_member_join
    assert len(full["daily_messages"]) == 14 and full["daily_messages"][-1]["messages"] == 6

    # Progress as an expert: only the expert's persona's activity.
    alice = world["alice"]
    p = client.get(
        f"/orgs/{owner.org_id}/students/{alice.user_id}/progress", headers=expert.headers
    ).json()
    assert p["learning_metrics"]["total_messages"] == 1
    assert [x["persona_id"] for x in p["persona_interactions"]] == [world["bio"]]


@pytest.mark.all_databases
def test_student_progress_seed_shape_and_scoping(client, world):
    owner, alice, bob = world["owner"], world["alice"], world["bob"]
    url = f"/orgs/{owner.org_id}/students/{alice.user_id}/progress"
    r = client.get(url + "?days=30", headers=alice.headers)  # a recipient's own progress
    assert r.status_code == 200, r.text
    p = r.json()
    assert PROGRESS_KEYS <= p.keys() and METRIC_KEYS <= p["learning_metrics"].keys()
    m = p["learning_metrics"]
    assert p["student_id"] == alice.user_id and p["period"]["days"] == 30
    assert m["total_messages"] == 4 and m["total_conversations"] == 2
    assert m["avg_conversation_length"] == 2.0 and m["active_days"] == 1
    assert m["total_interactions"] >= 4  # plus member.joined
    assert 0 < m["engagement_score"] <= 100
    assert p["daily_activity"][-1] == {
        "date": datetime.now(UTC).date().isoformat(),
        "interactions": m["total_interactions"],
        "messages": 4,
    }
    assert p["persona_interactions"][0] == {
        "persona_id": world["math"],
        "name": "Math Tutor",
        "interaction_count": 3,
    }
    assert p["progress_trend"] == "increasing"

    assert client.get(url, headers=owner.headers).status_code == 200
    assert client.get(url, headers=bob.headers).status_code == 403  # someone else's progress
    # A student of another org is a 404, whichever org the caller names.
    other_student = world["other_student"]
    assert (
        client.get(
            f"/orgs/{owner.org_id}/students/{other_student.user_id}/progress", headers=owner.headers
        ).status_code
        == 404
    )
    assert client.get(url, headers=world["other"].headers).status_code == 404
    assert (
        client.get(
            f"/orgs/{world['other'].org_id}/students/{alice.user_id}/progress",
            headers=world["other"].headers,
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/orgs/{owner.org_id}/students/nobody/progress", headers=owner.headers
        ).status_code
        == 404
    )
    assert client.get(url + "?days=0", headers=owner.headers).status_code == 422


def test_hooks_record_sessions_sources_and_members(client, world):
    owner = world["owner"]
    emit(
        client,
        "after_session_start",
        org_id=owner.org_id,
        user_id=world["bob"].user_id,
        session_id="s-1",
        persona_id=world["math"],
    )
    emit(
        client,
        "after_source_ingest",
        org_id=owner.org_id,
        user_id=owner.user_id,
        source_id="src-1",
        persona_id=world["math"],
        chunk_count=12,
        size_bytes=2048,
        seconds=0.5,
    )
    totals = client.get(f"/orgs/{owner.org_id}/dashboard", headers=owner.headers).json()["totals"]
    assert totals["sessions_started_30d"] == 1 and totals["sources_ingested_30d"] == 1
    csv_text = client.get(
        f"/orgs/{owner.org_id}/events.csv?event_type=source.ingested", headers=owner.headers
    ).text
    assert '"{""source_id"":""src-1"",""chunk_count"":12' in csv_text


def test_past_weeks_are_served_from_stored_reports(client, world):
    owner = world["owner"]
    svc = analytics_service(client.app.state.kernel)
    last_week, _ = week_bounds(1)
    for i in range(4):
        svc.record(
            org_id=owner.org_id,
            user_id=world["alice"].user_id,
            persona_id=world["math"],
            session_id="old",
            event_type=MESSAGE_ANSWERED,
            at=last_week + timedelta(days=2, hours=i),
        )
    url = f"/orgs/{owner.org_id}/reports/weekly?week_offset=1"
    first = client.get(url, headers=owner.headers).json()
    assert first["stored"] is True and first["total_messages"] == 4
    peak = (last_week + timedelta(days=2)).date().isoformat()
    assert first["usage_stats"]["peak_usage_day"] == peak
    # A late event doesn't change a stored week: the report is what was stored.
    svc.record(
        org_id=owner.org_id,
        user_id=world["bob"].user_id,
        persona_id=world["math"],
        session_id="late",
        event_type=MESSAGE_ANSWERED,
        at=last_week + timedelta(days=3),
    )
    again = client.get(url, headers=owner.headers).json()
    assert again["total_messages"] == 4 and again["generated_at"] == first["generated_at"]
    # The expert's view of a past week is computed live, scoped to their personas.
    expert_view = client.get(url, headers=world["expert"].headers).json()
    assert expert_view["stored"] is False and expert_view["total_messages"] == 0


@pytest.mark.all_databases
def test_concurrent_answers_are_all_counted(client, make_user):
    """The daily rollup is an atomic upsert: writers racing on one conversation
    lose no count."""
    from concurrent.futures import ThreadPoolExecutor

    owner = make_user(client)
    persona = make_persona(client, owner, "Busy Persona")
    svc = analytics_service(client.app.state.kernel)

    def answer(_):
        svc.record(
            org_id=owner.org_id,
            user_id=owner.user_id,
            persona_id=persona,
            session_id="one-session",
            event_type=MESSAGE_ANSWERED,
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(answer, range(80)))
    report = client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=owner.headers).json()
    assert report["total_messages"] == 80
    assert report["usage_stats"]["total_conversations"] == 1
    assert report["top_personas"][0]["interaction_count"] == 80
    # Rebuilding the rollup from the raw events gives the same report.
    svc.rebuild_rollup()
    again = client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=owner.headers).json()
    assert again["total_messages"] == 80 and again["top_personas"] == report["top_personas"]

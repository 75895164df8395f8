"""End to end through the real REST routes: recipients ask a persona questions
(/ai/respond), send a quiz result (/events); reports, progress and the dashboard
reflect exactly that, for their org only."""

from __future__ import annotations

import time

import pytest

from .conftest import make_persona


def wait_for(predicate, timeout: float = 10.0):
    """Events are recorded by hook listeners; give them a moment, never a fixed sleep."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


@pytest.mark.all_databases
def test_questions_and_quizzes_flow_into_reports(client, make_user):
    owner = make_user(client)
    student = make_user(client, role="recipient", org=owner)
    outsider = make_user(client)
    persona = make_persona(client, owner, "Chemistry Tutor")
    r = client.post(
        f"/personas/{persona}/release",
        headers=owner.headers,
        json={"override": True, "reason": "analytics end-to-end test"},
    )
    assert r.status_code == 200, r.text

    first = client.post(
        "/ai/respond",
        headers=student.headers,
        json={"persona_id": persona, "user_message": "What is a covalent bond?"},
    )
    assert first.status_code == 200, first.text
    session_id = first.json()["session_id"]
    second = client.post(
        "/ai/respond",
        headers=student.headers,
        json={
            "persona_id": persona,
            "session_id": session_id,
            "user_message": "And an ionic bond?",
        },
    )
    assert second.status_code == 200, second.text
    quiz = client.post(
        "/events",
        headers=student.headers,
        json={
            "event_type": "quiz.completed",
            "persona_id": persona,
            "payload": {"quiz_id": "bonds", "score": 4, "max_score": 5},
        },
    )
    assert quiz.status_code == 200, quiz.text

    url = f"/orgs/{owner.org_id}/reports/weekly"
    report = wait_for(
        lambda: (r := client.get(url, headers=owner.headers).json())["total_messages"] == 2 and r
    )
    assert report, client.get(url, headers=owner.headers).json()
    assert report["active_users"] == 1
    assert report["top_personas"] == [
        {"persona_id": persona, "name": "Chemistry Tutor", "interaction_count": 2}
    ]
    assert report["usage_stats"]["total_conversations"] == 1
    assert report["usage_stats"]["avg_messages_per_conversation"] == 2.0

    progress = client.get(
        f"/orgs/{owner.org_id}/students/{student.user_id}/progress", headers=student.headers
    ).json()
    metrics = progress["learning_metrics"]
    assert metrics["total_messages"] == 2 and metrics["total_conversations"] == 1
    # member.joined + session.started + 2 answers + the quiz
    assert metrics["total_interactions"] == 5
    dash = client.get(f"/orgs/{owner.org_id}/dashboard", headers=owner.headers).json()
    assert dash["totals"]["sessions_started_30d"] == 1
    assert dash["totals"]["messages_today"] == 2

    theirs = client.get(f"/orgs/{outsider.org_id}/reports/weekly", headers=outsider.headers).json()
    assert theirs["total_messages"] == 0 and theirs["top_personas"] == []


def test_most_asked_questions_in_the_weekly_report(client, make_user):
    owner = make_user(client)
    expert = make_user(client, role="expert", org=owner)
    students = [make_user(client, role="recipient", org=owner) for _ in range(2)]
    chemistry = make_persona(client, owner, "Chemistry Tutor")
    physics = make_persona(client, expert, "Physics Tutor")
    for persona in (chemistry, physics):
        r = client.post(
            f"/personas/{persona}/release",
            headers=owner.headers,
            json={"override": True, "reason": "top questions test"},
        )
        assert r.status_code == 200, r.text
    asked = [
        (students[0], chemistry, "What is a covalent bond?"),
        (students[1], chemistry, "what is a  covalent bond"),
        (students[1], chemistry, "And an ionic bond?"),
        (students[0], physics, "What is inertia?"),
    ]
    for student, persona, question in asked:
        r = client.post(
            "/ai/respond",
            headers=student.headers,
            json={"persona_id": persona, "user_message": question},
        )
        assert r.status_code == 200, r.text

    report = client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=owner.headers).json()
    assert report["top_questions"] == [
        {"question": "What is a covalent bond?", "count": 2},
        {"question": "And an ionic bond?", "count": 1},
        {"question": "What is inertia?", "count": 1},
    ]
    # an expert sees the questions put to their own personas only
    theirs = client.get(f"/orgs/{owner.org_id}/reports/weekly", headers=expert.headers).json()
    assert theirs["top_questions"] == [{"question": "What is inertia?", "count": 1}]

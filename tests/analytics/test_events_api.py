"""POST /events (client-side events) and the CSV exports."""

from __future__ import annotations

import csv
import io

from .conftest import answered, make_persona


def test_client_events_take_org_and_user_from_the_caller(client, make_user):
    owner = make_user(client)
    student = make_user(client, role="recipient", org=owner)
    other = make_user(client)
    persona = make_persona(client, owner, "Quiz Master")

    r = client.post(
        "/events",
        headers=student.headers,
        json={
            "event_type": "quiz.completed",
            "persona_id": persona,
            "payload": {"quiz_id": "q1", "score": 8, "max_score": 10},
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "recorded" and r.json()["event_type"] == "quiz.completed"

    # Org or user in the body is refused, not trusted.
    for extra in ({"org_id": other.org_id}, {"user_id": other.user_id}):
        r = client.post(
            "/events",
            headers=student.headers,
            json={"event_type": "quiz.completed", "payload": {}, **extra},
        )
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "validation_error"

    progress = client.get(
        f"/orgs/{owner.org_id}/students/{student.user_id}/progress", headers=owner.headers
    ).json()
    assert progress["learning_metrics"]["total_interactions"] == 2  # member.joined + quiz
    assert progress["persona_interactions"] == [
        {"persona_id": persona, "name": "Quiz Master", "interaction_count": 1}
    ]
    rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/orgs/{owner.org_id}/events.csv", headers=owner.headers).text)
        )
    )
    quiz = [row for row in rows if row["event_type"] == "quiz.completed"]
    assert len(quiz) == 1 and quiz[0]["user_id"] == student.user_id
    assert '"score":8' in quiz[0]["payload"]
    other_rows = client.get(f"/orgs/{other.org_id}/events.csv", headers=other.headers).text
    assert "quiz.completed" not in other_rows


def test_bad_client_events_are_4xx_and_not_recorded(client, make_user):
    owner = make_user(client)
    other = make_user(client)
    foreign_persona = make_persona(client, other, "Not yours")
    cases = [
        ({"event_type": "message.answered", "payload": {}}, 400),  # server-only type
        ({"event_type": "Quiz Completed!", "payload": {}}, 400),
        ({"event_type": "a.b.c.d.e", "payload": {}}, 400),
        ({"event_type": "quiz.completed", "payload": {"blob": "x" * 9000}}, 413),
        ({"event_type": "quiz.completed", "payload": [1, 2]}, 422),
        ({"payload": {}}, 422),
        ({"event_type": "quiz.completed", "persona_id": foreign_persona}, 404),
    ]
    for body, status in cases:
        r = client.post("/events", headers=owner.headers, json=body)
        assert r.status_code == status, (body, r.text)
        assert "error" in r.json()
    r = client.post(
        "/events",
        headers={**owner.headers, "Content-Type": "application/json"},
        content=b"{not json",
    )
    assert r.status_code == 422
    r = client.post("/events", headers=owner.headers, content=b"x" * 20_000)
    assert r.status_code == 413
    assert client.post("/events", json={"event_type": "quiz.completed"}).status_code == 401

    rows = client.get(f"/orgs/{owner.org_id}/events.csv", headers=owner.headers).text
    assert rows.count("\n") == 2  # header + the owner's own member.joined, nothing else
    assert "member.joined" in rows


def test_csv_exports_are_attachments_scoped_and_formula_safe(client, make_user):
    owner = make_user(client)
    expert = make_user(client, role="expert", org=owner)
    student = make_user(client, role="recipient", org=owner)
    mine = make_persona(client, expert, '=HYPERLINK("http://evil")')
    theirs = make_persona(client, owner, "Owner's")
    answered(client, student, mine, n=2)
    answered(client, student, theirs, n=3)

    r = client.get(f"/orgs/{owner.org_id}/reports/weekly.csv", headers=owner.headers)
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith("attachment")
    rows = list(csv.reader(io.StringIO(r.text)))
    assert ["total_messages", "5"] in rows
    assert [mine, '\'=HYPERLINK("http://evil")', "2"] in rows  # not a live formula

    expert_rows = list(
        csv.DictReader(
            io.StringIO(client.get(f"/orgs/{owner.org_id}/events.csv", headers=expert.headers).text)
        )
    )
    assert len(expert_rows) == 2 and {row["persona_id"] for row in expert_rows} == {mine}
    assert (
        client.get(f"/orgs/{owner.org_id}/events.csv", headers=student.headers).status_code == 403
    )
    other = make_user(client)
    assert client.get(f"/orgs/{owner.org_id}/events.csv", headers=other.headers).status_code == 404
    assert (
        client.get(f"/orgs/{owner.org_id}/reports/weekly.csv", headers=other.headers).status_code
        == 404
    )

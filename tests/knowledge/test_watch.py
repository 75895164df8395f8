"""Watching many sources: one request for all their statuses, and an SSE stream of
their changes that ends once every one is settled."""

from __future__ import annotations

import json

from .knowledge_files import TOPICS


def events(text: str) -> list[tuple[str, dict]]:
    out = []
    for block in text.strip().split("\n\n"):
        head, data = block.split("\n")
        out.append((head.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return out


def test_many_statuses_in_one_request_and_a_stream_until_settled(
    client, make_user, persona, upload, wait_done
):
    alice = make_user(client, role="expert")
    pid = persona(alice)
    ids = [
        upload(alice, pid, f"{n}.txt", TOPICS[n].encode() * 3).json()["source_id"] for n in range(3)
    ]

    # the stream starts while the jobs run and ends when all are ready
    r = client.get("/knowledge/sources/events", params={"persona_id": pid}, headers=alice.headers)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    got = events(r.text)
    assert got[-1][0] == "settled"
    assert sorted(s["source_id"] for s in got[-1][1]["sources"]) == sorted(ids)
    assert {s["status"] for s in got[-1][1]["sources"]} == {"ready"}
    last = {}
    for name, data in got[:-1]:
        assert name == "status"
        last[data["source_id"]] = data["status"]
    assert last == dict.fromkeys(ids, "ready")  # each source's final state was pushed

    by_ids = client.get(
        "/knowledge/sources/status",
        params={"source_ids": f"{ids[2]},{ids[0]}"},
        headers=alice.headers,
    )
    assert by_ids.status_code == 200, by_ids.text
    assert [s["source_id"] for s in by_ids.json()["sources"]] == [ids[2], ids[0]]
    single = client.get(f"/knowledge/{ids[0]}/status", headers=alice.headers).json()
    assert by_ids.json()["sources"][1] == single  # the same body as one source's status

    by_persona = client.get(
        "/knowledge/sources/status", params={"persona_id": pid}, headers=alice.headers
    ).json()["sources"]
    assert sorted(s["source_id"] for s in by_persona) == sorted(ids)


def test_bad_requests_and_another_orgs_ids(client, make_user, persona, upload, wait_done):
    alice = make_user(client, role="expert")
    bob = make_user(client, role="expert")  # another org
    pid = persona(alice)
    sid = upload(alice, pid, "a.txt", TOPICS[0].encode()).json()["source_id"]
    mine = upload(bob, persona(bob), "b.txt", TOPICS[1].encode()).json()["source_id"]
    h = bob.headers
    for route in ("/knowledge/sources/status", "/knowledge/sources/events"):
        # one foreign id among the caller's own makes the whole request a 404
        r = client.get(route, params={"source_ids": f"{mine},{sid}"}, headers=h)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found", r.text
        assert sid not in r.text
        assert client.get(route, params={"persona_id": pid}, headers=h).status_code == 404
        assert client.get(route, headers=h).status_code == 400
        both = client.get(route, params={"persona_id": pid, "source_ids": sid}, headers=h)
        assert both.status_code == 400
        many = ",".join(f"id{n}" for n in range(101))
        assert client.get(route, params={"source_ids": many}, headers=h).status_code == 400

"""The ``add_knowledge`` fixture other plugins' tests use."""

from __future__ import annotations

from .knowledge_files import TOPICS, pdf_bytes


def test_add_knowledge_on_a_bare_kernel(make_kernel, add_knowledge):
    kernel = make_kernel()
    persona = kernel.service("personas").create("org-1", {"name": "Tutor"}, None)
    source = add_knowledge(
        kernel, "org-1", persona.persona_id, "bio.pdf", pdf_bytes(TOPICS), title="Biology"
    )
    assert source.status == "ready" and source.chunk_count >= 4
    hits = kernel.service("retriever").retrieve("org-1", persona.persona_id, "continents drift")
    assert hits[0].title == "Biology" and hits[0].page == 3
    assert kernel.service("retriever").retrieve("org-2", persona.persona_id, "continents") == []


def test_add_knowledge_with_a_running_app(client, make_user, persona, add_knowledge):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    kernel = client.app.state.kernel
    source = add_knowledge(kernel, expert.org_id, pid, "notes.md", "\n\n".join(TOPICS).encode())
    assert source.status == "ready"
    r = client.get(f"/knowledge/{source.id}/status", headers=expert.headers)
    assert r.json()["status"] == "ready"

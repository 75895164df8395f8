"""Upload -> ready -> retrievable, for every built-in format, through the REST API."""

from __future__ import annotations

import pytest

from .knowledge_files import TOPICS, docx_bytes, html_bytes, pdf_bytes, pptx_bytes

CASES = {
    "pdf": ("notes.pdf", lambda: pdf_bytes(TOPICS), "pdf"),
    "docx": ("notes.docx", lambda: docx_bytes(TOPICS), "docx"),
    "pptx": ("deck.pptx", lambda: pptx_bytes(TOPICS), "pptx"),
    "txt": ("notes.txt", lambda: "\n\n".join(TOPICS).encode(), "text"),
    "md": (
        "notes.md",
        lambda: ("# Biology\n\n" + "\n\n".join(f"- {t}" for t in TOPICS)).encode(),
        "markdown",
    ),
    "html": ("notes.html", lambda: html_bytes(" ".join(TOPICS)), "html"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_upload_becomes_ready_and_retrievable(case, client, make_user, persona, upload, wait_done):
    filename, make, kind = CASES[case]
    expert = make_user(client, role="expert")
    pid = persona(expert)
    r = upload(expert, pid, filename, make(), title=f"{case} notes")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "pending" and body["upload_id"] == body["source_id"]
    assert body["type"] == kind and body["duplicate"] is False

    final = wait_done(expert, body["source_id"])
    assert final["status"] == "ready", final
    assert final["chunk_count"] >= 1 and final["error_message"] is None
    assert final["title"] == f"{case} notes" and final["created_at"]

    kernel = client.app.state.kernel
    hits = kernel.service("retriever").retrieve(
        expert.org_id, pid, "What do mitochondria produce?", k=3
    )
    assert hits, "nothing retrieved"
    assert "mitochondria" in hits[0].text.lower()
    assert hits[0].source_id == body["source_id"] and hits[0].title == f"{case} notes"
    assert 0 < hits[0].score <= 1
    if case == "pdf":
        assert hits[0].page == 2  # one topic per page
    if case == "pptx":
        assert hits[0].slide == 2
    if case == "html":
        assert "secretscript" not in " ".join(h.text.lower() for h in hits)
    listed = client.get(f"/knowledge/sources?persona_id={pid}", headers=expert.headers).json()
    assert [s["source_id"] for s in listed] == [body["source_id"]]


def test_audio_without_the_extra_fails_with_a_clear_message(
    client, make_user, persona, upload, wait_done
):
    import importlib.util

    assert importlib.util.find_spec("faster_whisper") is None  # the extra is not installed here
    expert = make_user(client, role="expert")
    pid = persona(expert)
    wav = b"RIFF" + (36).to_bytes(4, "little") + b"WAVEfmt " + b"\0" * 24 + b"data" + b"\0" * 4
    r = upload(expert, pid, "lecture.wav", wav)
    assert r.status_code == 200 and r.json()["type"] == "audio", r.text
    final = wait_done(expert, r.json()["source_id"])
    assert final["status"] == "failed"
    assert (
        final["error_message"] == "could not read the file: transcription not installed: "
        "pip install bwenge[audio]"
    )


def _pdf_with_a_section_over_a_page_break() -> bytes:
    """A heading, then prose that fills page 1 and ends mid-sentence at its foot: the
    sentence about worm castings starts on page 1 and ends on page 2."""
    from fpdf import FPDF

    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    pdf.set_font("helvetica", "B", 18)
    pdf.multi_cell(0, 10, "Soil Care", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("helvetica", "", 11)
    filler = "Beds are raked level before planting and paths are kept clear of weeds."
    while pdf.get_y() + 12 <= pdf.page_break_trigger:  # until one line is left
        pdf.multi_cell(0, 6, filler, new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(
        0,
        6,
        "Worm castings spread thinly over the beds in autumn feed the soil slowly through "
        "the winter, and by spring the beds are dark, crumbly and ready for seedlings.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())


def test_a_pdf_section_reads_on_over_a_page_break(client, make_user, persona, upload, wait_done):
    expert = make_user(client, role="expert")
    pid = persona(expert)
    data = _pdf_with_a_section_over_a_page_break()
    from io import BytesIO

    from pypdf import PdfReader

    pages = [p.extract_text() for p in PdfReader(BytesIO(data)).pages]
    assert len(pages) == 2 and "Worm castings" in pages[0] and "crumbly" in pages[1]
    r = upload(expert, pid, "soil.pdf", data, title="Soil care")
    assert wait_done(expert, r.json()["source_id"])["status"] == "ready"

    kernel = client.app.state.kernel
    hits = kernel.service("retriever").retrieve(
        expert.org_id, pid, "When should worm castings be spread?", k=3
    )
    passage = next(h for h in hits if "Worm castings" in h.text)
    # one sentence, not cut at the page's foot, its wrapped lines read as one paragraph
    sentence = (
        "Worm castings spread thinly over the beds in autumn feed the soil slowly through "
        "the winter, and by spring the beds are dark, crumbly and ready for seedlings."
    )
    assert sentence in passage.text, passage.text
    assert passage.section == "Soil Care"
    # the reranker's evidence includes the cosine of the passage's nearest sentence
    assert 0 < passage.metadata["sentence"] <= 1

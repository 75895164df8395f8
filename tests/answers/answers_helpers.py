"""Test material and REST helpers shared by the answers tests (a unique module name,
importable from tests)."""

import io
import time

OSMOSIS = (
    "Osmosis is the movement of water across a semipermeable membrane from a region of low "
    "solute concentration to a region of high solute concentration."
)
MITOCHONDRIA = (
    "Mitochondria are the powerhouse of the cell: they produce ATP through cellular respiration."
)
PHOTOSYNTHESIS = (
    "Photosynthesis converts light energy into chemical energy stored in glucose, "
    "inside the chloroplasts of plant cells."
)


MEDIA_TYPES = {
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".pdf": "application/pdf",
    ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ".pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}


def upload(client, who, persona_id, name, content, title=None):
    """Upload ``content`` (text or bytes) as file ``name``; returns the source id."""
    body = content.encode() if isinstance(content, str) else content
    ext = name[name.rfind(".") :]
    r = client.post(
        "/knowledge/upload",
        headers=who.headers,
        data={"persona_id": persona_id, "title": title or name.rsplit(".", 1)[0]},
        files={"file": (name, body, MEDIA_TYPES.get(ext, "application/octet-stream"))},
    )
    assert r.status_code == 200, r.text
    return r.json()["upload_id"]


def wait_ready(client, who, persona_id, source_ids, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        r = client.get(f"/knowledge/sources?persona_id={persona_id}", headers=who.headers)
        if r.status_code == 429:  # the API rate limit: polling is a client like any other
            time.sleep(float(r.headers.get("Retry-After", 1)))
            continue
        assert r.status_code == 200, r.text
        status = {s["source_id"]: s["status"] for s in r.json()}
        assert "failed" not in status.values(), r.json()
        if all(status.get(sid) == "ready" for sid in source_ids):
            return
        time.sleep(0.3)
    raise AssertionError(f"sources not ready in {timeout}s")


def ask(client, who, persona_id, message, session_id="bar"):
    r = client.post(
        "/ai/respond",
        headers=who.headers,
        json={"persona_id": persona_id, "session_id": session_id, "user_message": message},
    )
    return r


# A small structured corpus: Markdown, DOCX and PDF with headings.
GARDEN_MD = """# Watering the School Garden

Every class that keeps a bed in the school garden follows this guide.

## Drip Irrigation

### Emitters

Drip emitters release water slowly at the base of each plant, usually between two and
four litres per hour. Because the water goes straight to the roots, very little is lost
to evaporation or runoff.

### Pump Controller

Error code E-4471 on the pump controller means the intake filter is blocked: clean the
mesh filter and restart the controller.

## Watering Schedule

Seedlings need water every morning during their first two weeks. Established beds are
watered deeply twice a week, which encourages roots to grow downwards.
"""


def compost_docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Composting", level=1)
    document.add_paragraph("The garden's compost bays turn waste from the canteen into soil.")
    document.add_heading("Greens and Browns", level=2)
    document.add_paragraph(
        "Kitchen scraps and grass clippings are greens, rich in nitrogen. Dry leaves, straw "
        "and shredded cardboard are browns, rich in carbon. Mix roughly three parts brown to "
        "one part green so the heap neither smells nor dries out."
    )
    document.add_heading("Turning the Pile", level=2)
    document.add_paragraph(
        "Turn the heap with a fork every two weeks to let air in. A heap that is turned "
        "regularly is ready in about three months."
    )
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def soil_pdf() -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()

    def write(size: int, style: str, body: str, height: float) -> None:
        pdf.set_font("helvetica", style, size)
        pdf.set_x(pdf.l_margin)
        pdf.multi_cell(0, height, body)

    write(18, "B", "Soil Testing", 10)
    write(11, "", "Test each bed at the start of every term with the kit in the shed.", 6)
    write(14, "B", "Measuring pH", 8)
    write(
        11,
        "",
        "Most vegetables grow best when the soil pH is between 6.0 and 7.0. Below 6.0 the "
        "soil is too acidic: dig in garden lime, then test again after a month.",
        6,
    )
    write(14, "B", "Drainage", 8)
    write(
        11,
        "",
        "Dig a hole thirty centimetres deep and fill it with water. If it has not drained "
        "within four hours, the bed needs sand and organic matter.",
        6,
    )
    return bytes(pdf.output())

"""The parser child process reads *and chunks* an upload, so the server process itself
never loads llama-index or a format library: a text file and a generated PDF become
``ready`` and answerable, with the PDF's sections and pages, and a loader registered
by an import path that does not exist fails its uploads with a message naming it.
A child process each: what a process has imported is global to it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

SCRIPT = """
import json, sys, time
from fastapi.testclient import TestClient
from fpdf import FPDF

from bwenge import hookimpl
from bwenge.kernel import Kernel
from bwenge_rest.app import create_app


class BrokenLoader:
    @hookimpl
    def register_loaders(self, register):
        register("no_such_package.readers:NotesReader", extensions=(".notes",), name="notes")


def guide_pdf():
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_page()
    def heading(text, size):
        pdf.set_font("Helvetica", "B", size)
        pdf.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    def para(text):
        pdf.set_font("Helvetica", "", 10.5)
        pdf.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(1.5)
    heading("A Field Guide to Rivers", 20)
    heading("How rivers carve valleys", 15)
    for n in range(24):
        para(f"Paragraph {n}: running water picks up sand and gravel and grinds the river "
             "bed deeper every flood season, so that over thousands of years a narrow "
             "V-shaped valley forms between the hills on either side of the stream.")
    heading("Deltas", 15)
    para("Where a river meets the sea it slows down and drops the silt it carries; the "
         "silt builds a fan of new land called a delta, like the Nile delta in Egypt. "
         "The river splits into many small channels that wander across the delta, and "
         "every flood spreads a fresh layer of fertile mud over the fields there.")
    return bytes(pdf.output())


folder = sys.argv[1]
kernel = Kernel(config_dir=folder, env="testing", overrides={"data_dir": folder},
    plugins=[BrokenLoader()])
with TestClient(create_app(kernel.load())) as c:
    token = c.post("/auth/register", json={"name": "T", "email": "t@example.test",
        "password": "Parser-password-42", "org_name": "T"}).json()["access_token"]
    h = {"Authorization": f"Bearer {token}"}
    pid = c.post("/personas", headers=h, json={"name": "P"}).json()["persona_id"]
    files = {
        "notes": ("notes.txt", b"Photosynthesis takes place in the chloroplasts of a leaf.",
                  "text/plain"),
        "guide": ("rivers.pdf", guide_pdf(), "application/pdf"),
        "broken": ("week1.notes", b"Some notes.", "text/plain"),
    }
    ids = {}
    for key, file in files.items():
        r = c.post("/knowledge/upload", headers=h, data={"persona_id": pid}, files={"file": file})
        assert r.status_code in (200, 202), r.text
        ids[key] = r.json()["upload_id"]
    status = {}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        time.sleep(0.3)
        polled = {k: c.get(f"/knowledge/{i}/status", headers=h) for k, i in ids.items()}
        if any(r.status_code == 429 for r in polled.values()):  # the API's rate limit
            continue
        status = {k: r.json() for k, r in polled.items()}
        if all(s["status"] in ("ready", "failed") for s in status.values()):
            break
    def ask(session, question):
        r = c.post("/ai/respond", headers=h, json={"persona_id": pid, "session_id": session,
            "user_message": question})
        assert r.status_code == 200, r.text
        return r.json()
    answers = {
        "delta": ask("s1", "What is the land that forms where a river reaches the sea called?"),
        "chloroplasts": ask("s2", "Where does photosynthesis take place?"),
    }
loaded = sorted({m.split(".")[0] for m in sys.modules}
                & {"llama_index", "pypdf", "docx", "pptx", "bs4", "no_such_package"})
print(json.dumps({"status": status, "answers": answers, "loaded": loaded}))
"""


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path_factory.mktemp("parser-process"))],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_text_and_pdf_are_read_and_chunked_outside_the_server_process(result):
    status, answers = result["status"], result["answers"]
    assert status["notes"]["status"] == "ready", status["notes"]
    assert status["guide"]["status"] == "ready", status["guide"]
    assert status["guide"]["chunk_count"] >= 3  # one section over a page break, and Deltas

    delta = answers["delta"]
    assert "delta" in delta["response_text"].lower()
    cited = delta["citations"][0]
    assert cited["title"] == "rivers"
    assert cited["section"] == "A Field Guide to Rivers › Deltas"
    assert cited["page"] == 2
    chloroplasts = answers["chloroplasts"]
    assert "chloroplasts" in chloroplasts["response_text"]
    assert chloroplasts["citations"][0]["title"] == "notes"

    # the server read and chunked nothing itself
    assert result["loaded"] == []


def test_a_loader_whose_import_path_does_not_exist_fails_its_uploads_with_its_name(result):
    broken = result["status"]["broken"]
    assert broken["status"] == "failed"
    assert "no_such_package.readers:NotesReader" in broken["error_message"]
    assert "can't be imported" in broken["error_message"]

"""The whole story in a real browser: an expert registers, builds and teaches a
persona (a PDF and a DOCX dropped at once), releases it and invites a student;
the student signs up from the invitation, asks, and watches the cited answer
stream in; the admin then finds that message in the charts and the audit log."""

from __future__ import annotations

import base64
import io
import re

import pytest
from console_helpers import PASSWORD, screenshot

pytestmark = pytest.mark.slow

PDF_TEXT = (
    "Photosynthesis takes place in the chloroplasts of green plant cells. "
    "Chlorophyll absorbs sunlight, and the plant turns water and carbon dioxide "
    "into glucose and oxygen."
)
DOCX_TEXT = (
    "Cellular respiration happens in the mitochondria. The mitochondria release "
    "energy from glucose and oxygen, and give off carbon dioxide and water."
)


def make_pdf(text: str) -> bytes:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=12)
    pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def make_docx(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Respiration", level=1)
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def drop_files(page, selector: str, files: list[tuple[str, str, bytes]]) -> None:
    """Drag and drop: a real ``drop`` event carrying File objects, as a browser makes it."""
    payload = [{"name": n, "type": t, "b64": base64.b64encode(b).decode()} for n, t, b in files]
    data_transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, { type: f.type }));
            }
            return dt;
        }""",
        payload,
    )
    page.dispatch_event(selector, "dragover", {"dataTransfer": data_transfer})
    page.dispatch_event(selector, "drop", {"dataTransfer": data_transfer})


def test_expert_builds_student_asks_admin_sees(server, open_page):
    from playwright.sync_api import expect

    expert, expert_watch = open_page(viewport={"width": 1280, "height": 900})

    # -- register: a new organisation, the expert is its owner --
    expert.goto(server.base + "/")  # the root redirects to the console
    expect(expert).to_have_url(re.compile(r"/console/"))
    expect(expert.get_by_role("heading", name="Sign in")).to_be_visible()
    screenshot(expert, "sign-in")
    expert.get_by_role("link", name="Register an organisation").click()
    expert.get_by_label("Your name").fill("Amina Uwase")
    expert.get_by_label("Email").fill("amina@kigali.example")
    expert.get_by_label("Password").fill(PASSWORD)
    expert.get_by_label("Organisation").fill("Kigali Science School")
    expert.get_by_role("button", name="Create organisation").click()
    expect(expert.get_by_role("heading", name="Personas")).to_be_visible()

    # -- create a persona; the API's validation message lands on the field --
    expert.get_by_role("link", name="New persona").click()
    expert.get_by_role("button", name="Create persona").click()
    name = expert.get_by_label("Name", exact=True)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(expert.locator(f"#{name.get_attribute('id')}-error")).to_contain_text("at least 1")
    expect(name).to_be_focused()
    name.fill("Biology Tutor")
    expert.get_by_label("Description").fill("Secondary-school biology")
    expert.get_by_label("Style").fill("friendly")
    expert.get_by_label("Language").fill("en")
    expert.get_by_label("Guidelines (one per line)").fill("Stay on topic\nCite the notes")
    expert.get_by_label("Question a learner might ask").fill(
        "Where does photosynthesis take place?"
    )
    expert.get_by_label("Safety rules (one per line)").fill("No inappropriate content")
    expert.get_by_role("button", name="Create persona").click()
    expect(expert.get_by_role("heading", name="Knowledge")).to_be_visible()
    expect(expert.get_by_role("heading", name="Biology Tutor", level=1)).to_be_visible()

    # -- teach it: a PDF and a DOCX dropped at once, watched until ready --
    drop_files(
        expert,
        ".dropzone",
        [
            ("photosynthesis.pdf", "application/pdf", make_pdf(PDF_TEXT)),
            (
                "respiration.docx",
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                make_docx(DOCX_TEXT),
            ),
        ],
    )
    uploads = expert.locator(".upload")
    expect(uploads).to_have_count(2)
    for file_name in ("photosynthesis.pdf", "respiration.docx"):
        row = expert.locator(f'.upload[data-file="{file_name}"]')
        expect(row).to_have_attribute("data-status", "ready", timeout=120_000)
        expect(row.locator(".upload-status")).to_contain_text("ready")
        expect(row.locator("progress")).to_have_attribute("value", "1")
    sources = expert.locator("table.sources tbody tr")
    expect(sources).to_have_count(2)
    expect(expert.locator('table.sources tr[data-status="ready"]')).to_have_count(2)
    screenshot(expert, "studio-knowledge")
    # no evaluation API on this server: no exam panel, and nothing broken by its 404
    expect(expert.get_by_role("heading", name="Exam results")).to_have_count(0)

    # -- the draft answers in the preview, with its citation --
    preview = expert.locator('.chat[data-transport="sse"]')
    preview.locator("textarea").fill("What does chlorophyll absorb?")
    preview.locator("textarea").press("Enter")
    expect(preview.locator(".msg-persona .citation-title").first).to_be_visible(timeout=60_000)
    expect(preview.locator(".msg-persona .citation-quote").first).to_contain_text("Chlorophyll")

    # -- readiness, then release --
    expert.get_by_role("button", name="Check readiness").click()
    expect(expert.locator(".readiness")).to_have_attribute("data-ready", "true", timeout=60_000)
    expect(expert.locator(".checklist .missing")).to_have_count(0)
    release = expert.get_by_role("button", name="Release to learners")
    expect(release).to_be_enabled()
    release.click()
    expect(expert.locator(".release-status .badge")).to_have_text("released")
    screenshot(expert, "studio-release")
    assert "null" not in expert.inner_text("body")  # no missing value rendered as text

    # -- invite a student --
    expert.get_by_role("link", name="Organisation").click()
    expect(expert.get_by_role("heading", name="Members")).to_be_visible()
    expert.get_by_label("Email").fill("jean@kigali.example")
    expert.get_by_label("Name", exact=True).fill("Jean Student")
    expert.get_by_role("button", name="Invite").click()
    link = expert.get_by_label("Invitation link")
    expect(link).to_be_visible()
    invite_url = link.input_value()
    assert invite_url.startswith(server.console + "#/invite?token=")
    screenshot(expert, "admin-members")

    # -- the student accepts, asks, and watches the answer stream in --
    student, student_watch = open_page(viewport={"width": 1280, "height": 900})
    student.goto(invite_url)
    code = student.get_by_label("Invitation code")
    expect(code).not_to_have_value("")
    assert "token=" not in student.url  # the single-use secret left the address bar
    student.get_by_label("Choose a password").fill(PASSWORD)
    student.get_by_role("button", name="Join").click()
    expect(student.get_by_role("heading", name="Personas")).to_be_visible()
    student.get_by_role("link", name=re.compile("Biology Tutor")).click()
    chat = student.locator('.chat[data-transport="ws"]')
    expect(chat).to_have_attribute("data-state", "idle")  # a new conversation: no socket yet
    # Record every text the streaming bubble shows before the final message replaces it.
    student.evaluate(
        """() => {
            window.streamed = [];
            new MutationObserver(() => {
                const s = document.querySelector('.msg.streaming .msg-text');
                if (s && s.textContent) window.streamed.push(s.textContent);
            }).observe(document.querySelector('.chat-log'),
                       { childList: true, subtree: true, characterData: true });
        }"""
    )
    box = student.get_by_label("Your question")
    box.fill("Where does cellular respiration happen?")
    box.press("Enter")
    answer = chat.locator(".msg-persona").last
    expect(answer.locator(".citation-title")).to_be_visible(timeout=60_000)
    expect(answer.locator(".citation-quote").first).to_contain_text("mitochondria")
    expect(answer.locator(".msg-text")).to_contain_text("mitochondria")
    expect(chat).to_have_attribute("data-state", "connected")
    streamed = student.evaluate("window.streamed")
    assert streamed and "mitochondria" in streamed[-1].lower(), streamed
    expect(chat.locator(".msg-user")).to_have_count(1)  # the echo did not duplicate it
    expect(student.locator(".conversation-list")).to_be_visible()
    screenshot(student, "chat")
    assert "null" not in student.inner_text("body")

    # the conversation is listed and opens again, from the stored history
    student.reload()  # tokens live in memory: a reload asks to sign in again
    expect(student.get_by_role("heading", name="Sign in")).to_be_visible()
    student.get_by_label("Email").fill("jean@kigali.example")
    student.get_by_label("Password").fill(PASSWORD)
    student.get_by_role("button", name="Sign in").click()
    student.get_by_role("link", name=re.compile("Biology Tutor")).click()
    student.get_by_role("link", name=re.compile("Where does cellular respiration")).click()
    expect(chat).to_have_attribute("data-state", "connected")  # replayed over the socket
    expect(chat.locator(".msg-persona .citation-title")).to_be_visible()

    # -- the admin sees the message in the charts and the audit log --
    expert.get_by_role("link", name="Reports").click()
    expect(expert.locator('[data-metric="total_messages"]')).to_have_text("2")  # preview + student
    expect(expert.locator('[data-metric="active_users"]')).to_have_text("2")
    per_persona = expert.locator('[data-chart="personas"] svg')
    expect(per_persona.locator("text.label")).to_have_text(["Biology Tutor"])
    expect(per_persona.locator("text.value")).to_have_text(["2"])
    today = expert.locator('[data-chart="daily"] svg text.value')
    expect(today).to_have_count(7)
    assert sorted(int(v) for v in today.all_text_contents()) == [0, 0, 0, 0, 0, 0, 2]
    questions = expert.locator('[data-chart="questions"] table')  # the chart's own numbers
    expect(questions.locator("th")).to_contain_text(
        ["What does chlorophyll absorb?", "Where does cellular respiration happen?"]
    )
    screenshot(expert, "admin-reports")
    assert "null" not in expert.inner_text("body")
    expert.get_by_role("link", name="Audit log").click()
    expert.get_by_label("Action").fill("message.answer")
    expert.get_by_role("button", name="Filter").click()
    rows = expert.locator('table.audit tr[data-action="message.answer"]')
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text="Jean Student")).to_have_count(1)
    screenshot(expert, "admin-audit")

    assert expert_watch.dialogs == student_watch.dialogs == []
    assert expert_watch.errors == student_watch.errors == []

"""The console is safe by construction and usable: untrusted text stays text, the
pages carry a strict policy, a revoked session ends cleanly, answers still stream
where WebSockets are blocked, and keyboard, phone width and right-to-left work."""

from __future__ import annotations

import re

import pytest
from console_helpers import PASSWORD, screenshot

pytestmark = pytest.mark.slow

PAYLOAD_TEXT = (
    "Photosynthesis happens in the chloroplasts of the leaf. "
    "<script>alert('xss-script')</script> "
    "<img src=x onerror=\"alert('xss-img')\"> "
    "Read [the notes](javascript:alert('xss-link')) or "
    "<a href=\"javascript:alert('xss-a')\">these</a>."
)
PAYLOAD_NAME = "<img src=x onerror=alert('xss-file')>notes.txt"
PAYLOAD_PERSONA = "<svg onload=alert('xss-persona')>Tutor"


@pytest.fixture(scope="module")
def org(server):
    """An owner, a released persona taught through the API, and a recipient."""
    owner = server.register("Safety Owner", "owner@safety.example", "Safety School")
    me = server.http.get("/users/me", headers=owner).json()
    persona = server.http.post(
        "/personas",
        headers=owner,
        json={"name": "Plant Tutor", "sample_prompts": ["Where does photosynthesis happen?"]},
    ).json()
    r = server.http.post(
        "/knowledge/upload",
        headers=owner,
        data={"persona_id": persona["persona_id"], "title": "Plant notes"},
        files={"file": ("plants.txt", b"Photosynthesis happens in the chloroplasts.\n")},
    )
    assert r.status_code == 200, r.text
    assert server.wait_ready(owner, r.json()["upload_id"])["status"] == "ready"
    r = server.http.post(f"/personas/{persona['persona_id']}/release", headers=owner, json={})
    assert r.status_code == 200, r.text
    return {"owner": owner, "org_id": me["org_id"], "persona": persona}


def invite(server, org, email: str, role: str = "recipient") -> str:
    r = server.http.post(
        f"/orgs/{org['org_id']}/invite",
        headers=org["owner"],
        json={"email": email, "name": email.split("@")[0].title(), "role": role},
    )
    assert r.status_code == 200, r.text
    accepted = server.http.post(
        "/auth/invites/accept", json={"token": r.json()["invite_token"], "password": PASSWORD}
    )
    assert accepted.status_code == 200, accepted.text
    return r.json()["user_id"]


def sign_in(page, server, email: str) -> None:
    page.goto(server.console)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator("#nav .who").wait_for()


def test_console_pages_carry_a_strict_policy_and_only_shipped_files(server):
    page = server.http.get("/console/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "require-trusted-types-for 'script'" in csp and "frame-ancestors 'none'" in csp
    assert len(page.headers.get_list("content-security-policy")) == 1
    # no inline script or style to allow: every script is a file, no style attributes
    html = page.text
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="js/app.js">']
    assert "<style" not in html and " style=" not in html
    module = server.http.get("/console/js/app.js")
    assert module.headers["content-type"].startswith("text/javascript")
    again = server.http.get("/console/js/app.js", headers={"If-None-Match": module.headers["etag"]})
    assert again.status_code == 304
    for missing in ("/console/js/nope.js", "/console/..%2f..%2fpyproject.toml", "/console/x/.env"):
        assert server.http.get(missing).status_code == 404, missing
    # the API keeps its own policy
    assert server.http.get("/health").headers["content-security-policy"] == (
        "default-src 'none'; frame-ancestors 'none'"
    )


def test_script_and_javascript_links_in_material_render_as_text(server, org, open_page):
    from playwright.sync_api import expect

    owner = org["owner"]
    persona = server.http.post(
        "/personas",
        headers=owner,
        json={"name": PAYLOAD_PERSONA, "description": "<b onmouseover=alert(1)>bold</b>"},
    ).json()
    page, watch = open_page(viewport={"width": 1280, "height": 900})
    sign_in(page, server, "owner@safety.example")
    page.goto(f"{server.console}#/studio/{persona['persona_id']}")
    expect(page.get_by_role("heading", name="Knowledge")).to_be_visible()
    page.locator("#knowledge-files").set_input_files(
        files=[{"name": PAYLOAD_NAME, "mimeType": "text/plain", "buffer": PAYLOAD_TEXT.encode()}]
    )
    upload = page.locator(".upload")
    expect(upload).to_have_attribute("data-status", "ready", timeout=120_000)
    expect(upload.locator(".file-name")).to_have_text(PAYLOAD_NAME)
    release = server.http.post(
        f"/personas/{persona['persona_id']}/release",
        headers=owner,
        json={"override": True, "reason": "safety test"},
    )
    assert release.status_code == 200, release.text

    page.goto(f"{server.console}#/chat/{persona['persona_id']}")
    chat = page.locator('.chat[data-transport="ws"]')
    expect(chat).to_be_visible()  # the chat, not the studio's preview still on screen
    page.get_by_label("Your question").fill("Where does photosynthesis happen?")
    page.get_by_label("Your question").press("Enter")
    answer = chat.locator(".msg-persona").last
    quote = answer.locator(".citation-quote").first
    expect(quote).to_contain_text("<script>alert('xss-script')</script>", timeout=60_000)
    expect(quote).to_contain_text("javascript:alert('xss-a')")
    expect(answer.locator(".citation-title").first).to_contain_text("<img")
    expect(page.get_by_role("heading", name=PAYLOAD_PERSONA)).to_be_visible()
    screenshot(page, "xss-as-text")

    # Nothing the material carried became markup, and nothing ran.
    counts = page.evaluate(
        """() => ({
            scripts: [...document.scripts].map((s) => s.getAttribute('src')),
            images: document.querySelectorAll('main img, main svg[onload], main b').length,
            jsLinks: document.querySelectorAll('a[href^="javascript"]').length,
            handlers: [...document.querySelectorAll('main *')]
                .filter((el) => [...el.attributes].some((a) => a.name.startsWith('on'))).length,
        })"""
    )
    assert counts == {"scripts": ["js/app.js"], "images": 0, "jsLinks": 0, "handlers": 0}
    page.wait_for_timeout(300)  # give a would-be onerror handler its chance
    assert watch.dialogs == []
    assert watch.errors == []


def test_a_revoked_session_ends_cleanly(server, org, open_page):
    from playwright.sync_api import expect

    user_id = invite(server, org, "revoked@safety.example")
    page, watch = open_page()
    sign_in(page, server, "revoked@safety.example")
    expect(page.get_by_role("link", name=re.compile("Plant Tutor"))).to_be_visible()
    # An admin changes the member's role: every token they hold stops working.
    r = server.http.patch(
        f"/orgs/{org['org_id']}/members/{user_id}", headers=org["owner"], json={"role": "expert"}
    )
    assert r.status_code == 200, r.text
    page.get_by_role("link", name=re.compile("Plant Tutor")).click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#notice")).to_contain_text("session has ended")
    expect(page.locator("#nav")).to_be_empty()
    assert watch.errors == [] and watch.dialogs == []


def test_answers_stream_over_http_where_websockets_are_blocked(server, org, open_page):
    from playwright.sync_api import expect

    invite(server, org, "firewalled@safety.example")
    page, watch = open_page()
    # A proxy that accepts the upgrade and drops it at once, every time.
    page.route_web_socket(re.compile(r"/ws/chat"), lambda ws: ws.close())
    sign_in(page, server, "firewalled@safety.example")
    page.get_by_role("link", name=re.compile("Plant Tutor")).click()
    page.get_by_label("Your question").fill("Where does photosynthesis happen?")
    page.get_by_role("button", name="Send").click()
    chat = page.locator('.chat[data-transport="sse"]')
    expect(chat).to_be_visible(timeout=15_000)
    expect(chat.locator(".chat-status")).to_contain_text("HTTP streaming")
    answer = chat.locator(".msg-persona").last
    expect(answer.locator(".citation-title")).to_have_text("Plant notes", timeout=60_000)
    expect(answer.locator(".msg-text")).to_contain_text("chloroplasts")
    expect(chat.locator(".msg-user")).to_have_count(1)  # asked once, answered once
    expect(chat.locator(".msg-persona")).to_have_count(1)
    assert watch.errors == [] and watch.dialogs == []


def test_keyboard_phone_width_and_right_to_left(server, org, open_page):
    from playwright.sync_api import expect

    owner = org["owner"]
    arabic = server.http.post(
        "/personas",
        headers=owner,
        json={"name": "معلم الأحياء", "tone": {"language": "ar"}},
    ).json()
    r = server.http.post(
        f"/personas/{arabic['persona_id']}/release",
        headers=owner,
        json={"override": True, "reason": "right-to-left check"},
    )
    assert r.status_code == 200, r.text
    invite(server, org, "phone@safety.example")
    page, watch = open_page(viewport={"width": 375, "height": 740}, is_mobile=True, has_touch=True)

    # Sign in with the keyboard alone: Tab to each field, Enter submits.
    page.goto(server.console)
    page.get_by_role("heading", name="Sign in").wait_for()
    focused = []
    for _ in range(4):
        page.keyboard.press("Tab")
        focused.append(page.evaluate("document.activeElement.getAttribute('type') || ''"))
        if focused[-1] == "email":
            page.keyboard.type("phone@safety.example")
        if focused[-1] == "password":
            page.keyboard.type(PASSWORD)
            break
    assert focused[-2:] == ["email", "password"], focused
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Personas")).to_be_visible()

    def fits() -> bool:
        return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    assert fits()
    page.get_by_role("link", name="معلم الأحياء").click()
    chat = page.locator(".chat")
    expect(chat).to_have_attribute("lang", "ar")
    assert chat.evaluate("el => getComputedStyle(el).direction") == "rtl"
    box = page.get_by_label("Your question")
    expect(box).to_be_focused()  # the chat opens ready to type
    page.keyboard.type("أين يحدث التمثيل الضوئي؟")
    page.keyboard.press("Enter")
    mine = chat.locator(".msg-user .msg-text").last
    expect(mine).to_have_text("أين يحدث التمثيل الضوئي؟")
    assert mine.evaluate("el => getComputedStyle(el).direction") == "rtl"
    expect(chat.locator(".msg-persona")).to_have_count(1, timeout=60_000)
    expect(chat).to_have_attribute("data-state", "connected")
    assert fits()
    screenshot(page, "chat-phone-rtl")
    assert watch.errors == [] and watch.dialogs == []


def test_admin_sees_a_personas_avatar_drawn(server, org, open_page):
    from bwenge_avatars.gltf import cube_glb
    from playwright.sync_api import expect

    r = server.http.post(
        f"/3d/persona/{org['persona']['persona_id']}/upload",
        headers=org["owner"],
        files={"file": ("tutor.glb", cube_glb(), "model/gltf-binary")},
        data={"name": "Tutor cube", "animations": '["idle", "talking"]'},
    )
    assert r.status_code == 200, r.text
    page, watch = open_page()
    sign_in(page, server, "owner@safety.example")
    page.goto(f"{server.console}#/admin/avatars")
    item = page.locator(".avatar-item").filter(has_text="Plant Tutor")
    expect(item).to_contain_text("Tutor cube")
    expect(item.locator("figcaption")).to_have_text("Animations: idle, talking")
    canvas = item.locator("canvas")
    expect(canvas).to_have_attribute("data-meshes", "1")
    page.wait_for_timeout(200)  # a frame or two
    drawn = canvas.evaluate(
        """(c) => {
            const blank = document.createElement('canvas');
            blank.width = c.width; blank.height = c.height;
            return c.toDataURL() !== blank.toDataURL();
        }"""
    )
    assert drawn, "the avatar canvas stayed empty"
    screenshot(page, "admin-avatars")
    assert watch.errors == [] and watch.dialogs == []

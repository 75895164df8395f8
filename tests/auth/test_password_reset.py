"""Password reset by mail: ``POST /auth/password-reset`` and ``.../confirm``, the
``log`` and ``smtp`` senders and a sender of one's own (``register_mail_senders``)."""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from datetime import timedelta

import pytest
from bwenge_auth.testing import register_owner
from fastapi.testclient import TestClient

from bwenge import hookimpl

NEW_PASSWORD = "a brand new passphrase"
SAME_ANSWER = {"message": "If that address has an account, a reset link is on its way."}


@pytest.fixture
def kernel_settings(kernel_settings):
    return {**kernel_settings, "plugins": {"enabled": ["rest", "auth", "mail"]}}


class MemorySender:
    def __init__(self):
        self.sent = []

    async def send(self, message):
        self.sent.append(message)


class MemoryMail:
    """A plugin contributing a mail sender, the way a third party would."""

    def __init__(self):
        self.sender = MemorySender()

    @hookimpl
    def register_mail_senders(self, register):
        register("memory", lambda kernel: self.sender)


@pytest.fixture
def memory_mail():
    return MemoryMail()


@pytest.fixture
def mail_client(make_kernel, memory_mail):
    from bwenge_rest.app import create_app

    kernel = make_kernel(plugins=[memory_mail], mail={"sender": "memory"})
    with TestClient(create_app(kernel), raise_server_exceptions=False) as client:
        yield client


def token_in(text: str) -> str:
    return re.search(r"^  (\S+)$", text, re.M).group(1)


def test_reset_by_mailed_token_signs_out_every_session(mail_client, memory_mail):
    owner = register_owner(mail_client)
    r = mail_client.post("/auth/password-reset", json={"email": owner.email.upper()})
    assert r.status_code == 202 and r.json() == SAME_ANSWER
    (message,) = memory_mail.sender.sent
    assert message.to == owner.email and "30 minutes" in message.text
    token = token_in(message.text)

    done = mail_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": NEW_PASSWORD}
    )
    assert done.status_code == 200, done.text
    # the sessions opened with the old password are gone, refresh tokens included
    assert mail_client.get("/users/me", headers=owner.headers).status_code == 401
    refreshed = mail_client.post("/auth/refresh", json={"refresh_token": owner.refresh_token})
    assert refreshed.status_code == 401
    old = mail_client.post("/auth/login", json={"email": owner.email, "password": owner.password})
    assert old.status_code == 401
    new = mail_client.post("/auth/login", json={"email": owner.email, "password": NEW_PASSWORD})
    assert new.status_code == 200

    again = mail_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "yet another one!"}
    )
    assert again.status_code == 400 and again.json()["error"]["code"] == "invalid_reset_token"


def test_unknown_email_gets_the_same_answer_and_no_mail(mail_client, memory_mail):
    for email in ("nobody@example.test", "not an email"):
        r = mail_client.post("/auth/password-reset", json={"email": email})
        assert r.status_code == 202 and r.json() == SAME_ANSWER
    assert memory_mail.sender.sent == []


def test_bad_expired_and_weak_tokens_are_refused(mail_client, memory_mail):
    owner = register_owner(mail_client)
    auth = mail_client.app.state.kernel.service("auth")
    confirm = "/auth/password-reset/confirm"
    for token in ("garbage", owner.access_token):  # an access token is not a reset token
        r = mail_client.post(confirm, json={"token": token, "new_password": NEW_PASSWORD})
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_reset_token"
    mail_client.post("/auth/password-reset", json={"email": owner.email})
    token = token_in(memory_mail.sender.sent[-1].text)
    claims = auth.codec.decode(token, "password_reset")
    expired = auth.codec.encode(
        "password_reset", owner.user_id, timedelta(minutes=-5), pwd=claims["pwd"]
    )
    r = mail_client.post(confirm, json={"token": expired, "new_password": NEW_PASSWORD})
    assert r.status_code == 400
    weak = mail_client.post(confirm, json={"token": token, "new_password": "password"})
    assert weak.status_code == 422
    # nothing changed: the old password still works, and the token still does
    login = {"email": owner.email, "password": owner.password}
    assert mail_client.post("/auth/login", json=login).status_code == 200
    r = mail_client.post(confirm, json={"token": token, "new_password": NEW_PASSWORD})
    assert r.status_code == 200


def test_a_password_change_spends_outstanding_reset_tokens(mail_client, memory_mail):
    owner = register_owner(mail_client)
    mail_client.post("/auth/password-reset", json={"email": owner.email})
    token = token_in(memory_mail.sender.sent[-1].text)
    changed = mail_client.post(
        "/users/me/password",
        headers=owner.headers,
        json={"current_password": owner.password, "new_password": NEW_PASSWORD},
    )
    assert changed.status_code == 200
    r = mail_client.post(
        "/auth/password-reset/confirm", json={"token": token, "new_password": "something else 9"}
    )
    assert r.status_code == 400


def test_requests_are_rate_limited_per_address(make_kernel, memory_mail):
    from bwenge_rest.app import create_app

    kernel = make_kernel(
        plugins=[memory_mail],
        mail={"sender": "memory"},
        auth={"rate_limits": {"password_reset": "2/minute"}},
    )
    with TestClient(create_app(kernel)) as client:
        codes = [
            client.post("/auth/password-reset", json={"email": "x@example.test"}).status_code
            for _ in range(3)
        ]
    assert codes == [202, 202, 429]


def test_log_sender_is_the_default_and_links_use_public_url(make_kernel, caplog):
    from bwenge_rest.app import create_app

    kernel = make_kernel(server={"public_url": "https://bwenge.school.example"})
    with TestClient(create_app(kernel)) as client:
        owner = register_owner(client)
        with caplog.at_level(logging.INFO, logger="bwenge.mail"):
            assert (
                client.post("/auth/password-reset", json={"email": owner.email}).status_code == 202
            )
    (record,) = [r for r in caplog.records if r.name == "bwenge.mail"]
    assert owner.email in record.getMessage()
    assert "https://bwenge.school.example/auth/password-reset?token=" in record.getMessage()


def test_unknown_mail_sender_fails_at_start_naming_the_installed_ones(make_kernel):
    from bwenge_rest.app import create_app

    from bwenge.errors import BwengeError

    with pytest.raises(BwengeError, match="log, smtp"):
        create_app(make_kernel(mail={"sender": "pigeon"}))


class SmtpServer:
    """A minimal SMTP server on 127.0.0.1 that keeps what it receives."""

    def __init__(self):
        self.messages: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0)
        )
        self.port = self.server.sockets[0].getsockname()[1]
        self.ready.set()
        self.loop.run_forever()

    async def _session(self, reader, writer):
        writer.write(b"220 test ESMTP\r\n")
        while line := await reader.readline():
            verb = line.decode().strip().split(" ")[0].upper()
            if verb == "DATA":
                writer.write(b"354 go on\r\n")
                lines = []
                while (data := await reader.readline()) not in (b".\r\n", b""):
                    lines.append(data.decode())
                self.messages.append("".join(lines))
                writer.write(b"250 queued\r\n")
            elif verb == "QUIT":
                writer.write(b"221 bye\r\n")
                await writer.drain()
                break
            else:
                writer.write(b"250 ok\r\n")
            await writer.drain()
        writer.close()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc):
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)


def test_smtp_sender_delivers_the_reset_mail(make_kernel):
    from bwenge_rest.app import create_app

    with SmtpServer() as smtp:
        kernel = make_kernel(
            mail={
                "sender": "smtp",
                "from_address": "Bwenge <reset@school.example>",
                "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"},
            }
        )
        with TestClient(create_app(kernel)) as client:
            owner = register_owner(client)
            r = client.post("/auth/password-reset", json={"email": owner.email})
            assert r.status_code == 202
    (raw,) = smtp.messages
    assert f"To: {owner.email}" in raw and "From: Bwenge <reset@school.example>" in raw
    assert "Subject: Reset your Bwenge password" in raw

"""A small typed Python client for the Bwenge REST API, over httpx.

    from bwenge.client import BwengeClient

    with BwengeClient("http://127.0.0.1:8000") as bw:
        bw.login("amani@school.example", "a long passphrase")
        persona = bw.create_persona("Biology S3", description="Answers from the S3 notes")
        source = bw.upload(persona["persona_id"], "notes/cells.pdf")
        bw.wait_until_ready(source["source_id"])
        answer = bw.respond(persona["persona_id"], "What does the mitochondria do?")
        print(answer["response_text"], [c["source_id"] for c in answer["citations"]])

Responses are the JSON bodies ``/openapi.json`` documents (plain dicts); errors raise
:class:`BwengeAPIError` carrying the stable ``error.code``. Authenticate with
``login``/``register`` (bearer tokens, refreshed once on a 401) or ``api_key=``.
See docs/client.md.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import httpx


class BwengeAPIError(Exception):
    """A 4xx/5xx answer: ``status``, ``code`` (e.g. ``not_found``), ``message``."""

    def __init__(self, status: int, code: str, message: str, body: Any = None):
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.body = status, code, message, body


class BwengeClient:
    """One API base URL and one caller (tokens or an API key)."""

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        access_token: str | None = None,
        refresh_token: str | None = None,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
    ):
        self.http = httpx.Client(base_url=base_url, timeout=timeout, transport=transport)
        self.api_key = api_key
        self.access_token = access_token
        self.refresh_token = refresh_token

    # -- plumbing -------------------------------------------------------------------

    def __enter__(self) -> BwengeClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def _headers(self) -> dict[str, str]:
        if self.api_key:
            return {"X-API-Key": self.api_key}
        if self.access_token:
            return {"Authorization": f"Bearer {self.access_token}"}
        return {}

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Send a request and return its JSON body; raise :class:`BwengeAPIError`."""
        response = self._send(method, path, **kwargs)
        return response.json() if response.content else None

    def _send(self, method: str, path: str, *, _retry: bool = True, **kwargs: Any):
        extra = kwargs.pop("headers", {})
        response = self.http.request(method, path, headers={**self._headers(), **extra}, **kwargs)
        if response.status_code == 401 and _retry and self.refresh_token and not self.api_key:
            self.refresh()
            return self._send(method, path, _retry=False, headers=extra, **kwargs)
        _raise_for_error(response)
        return response

    def _keep(self, pair: dict[str, Any]) -> dict[str, Any]:
        self.access_token, self.refresh_token = pair["access_token"], pair["refresh_token"]
        return pair

    # -- auth -----------------------------------------------------------------------

    def register(
        self, name: str, email: str, password: str, org_name: str | None = None
    ) -> dict[str, Any]:
        body = {"name": name, "email": email, "password": password, "org_name": org_name}
        return self._keep(self.request("POST", "/auth/register", json=body))

    def login(self, email: str, password: str) -> dict[str, Any]:
        pair = self.request("POST", "/auth/login", json={"email": email, "password": password})
        return self._keep(pair)

    def refresh(self) -> dict[str, Any]:
        body = {"refresh_token": self.refresh_token}
        response = self.http.post("/auth/refresh", json=body)
        _raise_for_error(response)
        return self._keep(response.json())

    def logout(self) -> None:
        self.request("POST", "/auth/logout")
        self.access_token = self.refresh_token = None

    def me(self) -> dict[str, Any]:
        return self.request("GET", "/users/me")

    def request_password_reset(self, email: str) -> dict[str, Any]:
        return self.request("POST", "/auth/password-reset", json={"email": email})

    def confirm_password_reset(self, token: str, new_password: str) -> dict[str, Any]:
        body = {"token": token, "new_password": new_password}
        return self.request("POST", "/auth/password-reset/confirm", json=body)

    def create_api_key(self, org_id: str, name: str, role: str = "recipient") -> dict[str, Any]:
        body = {"name": name, "role": role}
        return self.request("POST", f"/orgs/{org_id}/api-keys", json=body)

    # -- personas -----------------------------------------------------------------

    def create_persona(self, name: str, **fields: Any) -> dict[str, Any]:
        """``fields``: description, tone, rules, sample_prompts, safety_rules."""
        return self.request("POST", "/personas", json={"name": name, **fields})

    def personas(self) -> list[dict[str, Any]]:
        return self.request("GET", "/personas")

    def persona(self, persona_id: str) -> dict[str, Any]:
        return self.request("GET", f"/personas/{persona_id}")

    def update_persona(self, persona_id: str, **changes: Any) -> dict[str, Any]:
        return self.request("PUT", f"/personas/{persona_id}", json=changes)

    def delete_persona(self, persona_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/personas/{persona_id}")

    def readiness(self, persona_id: str) -> dict[str, Any]:
        return self.request("GET", f"/personas/{persona_id}/readiness")

    def release(
        self, persona_id: str, *, override: bool = False, reason: str | None = None
    ) -> dict[str, Any]:
        body = {"override": override, "reason": reason}
        return self.request("POST", f"/personas/{persona_id}/release", json=body)

    # -- knowledge ----------------------------------------------------------------

    def upload(
        self,
        persona_id: str,
        file: str | Path | BinaryIO,
        *,
        title: str | None = None,
        filename: str | None = None,
    ) -> dict[str, Any]:
        """Upload a file (a path or an open binary file); ingestion runs in the background."""
        data = {"persona_id": persona_id, **({"title": title} if title else {})}
        if isinstance(file, str | Path):
            path = Path(file)
            with path.open("rb") as handle:
                files: dict[str, tuple[str, BinaryIO]] = {"file": (filename or path.name, handle)}
                return self.request("POST", "/knowledge/upload", data=data, files=files)
        files = {"file": (filename or str(getattr(file, "name", "upload")), file)}
        return self.request("POST", "/knowledge/upload", data=data, files=files)

    def source(self, source_id: str) -> dict[str, Any]:
        return self.request("GET", f"/knowledge/{source_id}/status")

    def sources(self, persona_id: str | None = None) -> list[dict[str, Any]]:
        params = {"persona_id": persona_id} if persona_id else None
        return self.request("GET", "/knowledge/sources", params=params)

    def delete_source(self, source_id: str) -> dict[str, Any]:
        return self.request("DELETE", f"/knowledge/{source_id}")

    def wait_until_ready(
        self, source_id: str, *, timeout: float = 120.0, interval: float = 0.25
    ) -> dict[str, Any]:
        """Poll the source's status until it is ``ready`` (or raise on ``failed``/timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.source(source_id)
            if status["status"] == "ready":
                return status
            if status["status"] == "failed":
                raise BwengeAPIError(422, "ingestion_failed", status["error_message"] or "", status)
            if time.monotonic() > deadline:
                raise TimeoutError(f"source {source_id} still {status['status']} after {timeout}s")
            time.sleep(interval)

    # -- answers ------------------------------------------------------------------

    def respond(
        self,
        persona_id: str,
        user_message: str,
        *,
        session_id: str | None = None,
        history: list[dict[str, str]] | None = None,
    ) -> dict[str, Any]:
        """``POST /ai/respond``: ``{response_text, citations, session_id, ...}``."""
        return self.request(
            "POST", "/ai/respond", json=_respond_body(persona_id, user_message, session_id, history)
        )

    def respond_stream(
        self,
        persona_id: str,
        user_message: str,
        *,
        session_id: str | None = None,
        history: list[dict[str, str]] | None = None,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """``POST /ai/respond/stream``: yields ``(event, data)`` — ``delta`` ({text}),
        ``reset``, then ``answer`` (the /ai/respond body) or ``error``."""
        body = _respond_body(persona_id, user_message, session_id, history)
        with self.http.stream(
            "POST", "/ai/respond/stream", json=body, headers=self._headers()
        ) as response:
            if response.status_code >= 400:
                response.read()
                _raise_for_error(response)
            event, data = "message", []
            for line in response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    yield event, json.loads("\n".join(data))
                    event, data = "message", []

    def history(self, session_id: str, *, limit: int = 50, offset: int = 0) -> dict[str, Any]:
        params = {"limit": limit, "offset": offset}
        return self.request("GET", f"/sessions/{session_id}/messages", params=params)


def _respond_body(
    persona_id: str, user_message: str, session_id: str | None, history: list | None
) -> dict[str, Any]:
    body: dict[str, Any] = {"persona_id": persona_id, "user_message": user_message}
    if session_id:
        body["session_id"] = session_id
    if history:
        body["context"] = {"conversation_history": history}
    return body


def _raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        body = response.json()
        error = body.get("error") or {}
        code, message = error.get("code", "error"), error.get("message") or body.get("detail", "")
    except (ValueError, AttributeError):
        body, code, message = response.text, "error", response.text[:200]
    raise BwengeAPIError(response.status_code, code, message, body)

"""``bwenge chat PERSONA_ID``: talk to a persona of a running server from the terminal."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Annotated
from urllib.parse import urlencode, urlsplit, urlunsplit

import typer


def _ws_url(base: str, **params: str) -> str:
    parts = urlsplit(base)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    query = urlencode({k: v for k, v in params.items() if v})
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + "/ws/chat", query, ""))


def _default_url() -> str:
    try:
        from bwenge.config import Config, CoreSettings

        cfg = Config()
        server = CoreSettings.model_validate(
            {k: v for k, v in cfg.data.items() if k != "secret_key"}
        ).server
        if server.public_url:
            return server.public_url
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::") else server.host
        return f"http://{host}:{server.port}"
    except Exception:  # config trouble must not stop a client of a remote server
        return "http://127.0.0.1:8000"


def chat(
    persona_id: Annotated[str, typer.Argument(help="The persona to talk to.")],
    url: Annotated[
        str | None,
        typer.Option(envvar="BWENGE_URL", help="Server base URL (default: from config)."),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="BWENGE_TOKEN", help="Access token or API key (bw_...)."),
    ] = None,
    email: Annotated[
        str | None, typer.Option(help="Log in with this email instead of a token.")
    ] = None,
    password: Annotated[
        str | None,
        typer.Option(envvar="BWENGE_PASSWORD", help="Password for --email (prompted if missing)."),
    ] = None,
    session: Annotated[str | None, typer.Option(help="Continue this session id.")] = None,
    message: Annotated[
        list[str] | None,
        typer.Option(
            "--message",
            "-m",
            help="Ask this and exit (repeatable); otherwise read lines from stdin.",
        ),
    ] = None,
    history: Annotated[bool, typer.Option(help="Print the replayed history on connect.")] = True,
) -> None:
    """Chat with a persona over WebSocket, streaming answers as they are written."""
    import httpx

    base = (url or _default_url()).rstrip("/")
    if token is None:
        if not email:
            typer.echo("Give --token (or BWENGE_TOKEN) or --email to log in.", err=True)
            raise typer.Exit(2)
        if password is None:
            password = typer.prompt("Password", hide_input=True)
        r = httpx.post(
            f"{base}/auth/login", json={"email": email, "password": password}, timeout=30
        )
        if r.status_code != 200:
            typer.echo(f"Login failed: {_detail(r)}", err=True)
            raise typer.Exit(1)
        token = r.json()["access_token"]
    r = httpx.post(f"{base}/ws/ticket", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if r.status_code != 200:
        typer.echo(f"Could not get a chat ticket: {_detail(r)}", err=True)
        raise typer.Exit(1)
    ws_url = _ws_url(
        base, persona_id=persona_id, session_id=session or "", ticket=r.json()["ticket"]
    )
    code = asyncio.run(_talk(ws_url, list(message or []), history))
    raise typer.Exit(code)


def _detail(response) -> str:
    try:
        return response.json().get("detail") or response.text
    except ValueError:
        return f"HTTP {response.status_code}"


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


async def _talk(ws_url: str, questions: list[str], show_history: bool) -> int:
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    interactive = not questions
    try:
        async with connect(ws_url, max_size=2**22) as ws:
            info = json.loads(await ws.recv())
            if info.get("type") != "session_info":
                _out(f"unexpected first frame: {info}\n")
                return 1
            _out(f"# session {info['session_id']} ({info['message_count']} messages)\n")
            for _ in range(info.get("replayed", 0)):
                frame = json.loads(await ws.recv())
                if show_history and frame.get("type") == "message":
                    m = frame["message"]
                    _out(f"{'you' if m['sender'] == 'user' else 'persona'}> {m['content']}\n")
            while True:
                if interactive:
                    try:
                        line = await asyncio.to_thread(input, "you> ")
                    except EOFError:
                        return 0
                else:
                    if not questions:
                        return 0
                    line = questions.pop(0)
                    _out(f"you> {line}\n")
                if not line.strip():
                    continue
                await ws.send(json.dumps({"type": "user_message", "content": line}))
                if not await _read_answer(ws):
                    return 1
    except ConnectionClosed as exc:
        reason = exc.rcvd.reason if exc.rcvd else "connection lost"
        _out(f"\n# closed: {reason}\n")
        return 1
    except (OSError, TimeoutError) as exc:
        _out(f"# cannot connect: {exc}\n")
        return 1
    return 0


async def _read_answer(ws) -> bool:
    """Print one answer's deltas as they arrive; True when it completed."""
    started = False
    ok = True
    while True:
        frame = json.loads(await ws.recv())
        kind = frame.get("type")
        if kind == "delta":
            if not started:
                _out("persona> ")
                started = True
            _out(frame["text"])
        elif kind == "reset":
            _out("\n# (restarting the answer)\npersona> ")
        elif kind == "message" and frame["message"]["sender"] == "persona":
            m = frame["message"]
            if not started:
                _out(f"persona> {m['content']}")
            _out("\n")
            for c in m["metadata"].get("citations", []):
                title = c.get("title") or c.get("source_id")
                _out(f"  [source: {title}]\n")
        elif kind == "error":
            _out(f"\n# error ({frame.get('code')}): {frame.get('message')}\n")
            ok = False
        elif kind == "typing" and frame.get("is_typing") is False:
            return ok

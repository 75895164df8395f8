"""The ``[chat]`` configuration section."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ChatSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    allow_token_query: bool | None = Field(
        None,
        description="Accept the seed's ?token= query parameter. Default: on in development and "
        "testing, off in production (tokens in URLs end up in logs and browser history).",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to open the socket, besides rest.cors_origins.",
    )
    allow_same_origin: bool = Field(
        True,
        description="Accept browser sockets from the server's own origin (the console: the "
        "Origin's host and port equal the handshake's Host, or server.public_url).",
    )
    ticket_ttl_seconds: int = Field(30, ge=1, le=600)
    auth_timeout_seconds: float = Field(10.0, gt=0, description="Wait this long for an auth frame.")
    idle_timeout_seconds: float = Field(
        300.0, gt=0, description="Close a socket that sent nothing (not even a ping) for this long."
    )
    max_connections_per_user: int = Field(20, ge=1)
    max_connections_per_org: int = Field(2000, ge=1)
    max_message_chars: int = Field(4000, ge=1, description="Longest user_message content accepted.")
    max_frame_bytes: int = Field(65536, ge=256, description="Longest client frame accepted.")
    max_pending_questions: int = Field(
        3, ge=1, description="Questions one socket may queue while an answer is streaming."
    )
    history_replay: int = Field(
        50, ge=0, le=500, description="Recent messages replayed on connect."
    )
    send_queue_frames: int = Field(
        2000, ge=10, description="Frames buffered for a slow client before it is disconnected."
    )
    drain_timeout_seconds: float = Field(
        20.0, ge=0, description="On shutdown, wait this long for in-flight answers to finish."
    )
    broadcaster: str = Field(
        "auto",
        pattern="^(auto|memory|redis)$",
        description="Fan-out between workers: 'redis' (needs redis_url), 'memory' (one process) "
        "or 'auto' (redis when redis_url is set).",
    )

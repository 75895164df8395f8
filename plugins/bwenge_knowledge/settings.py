"""The ``[knowledge]`` settings section."""

from __future__ import annotations

import os
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bwenge import extras


class EvidenceRerankerSettings(BaseModel):
    """``[knowledge.evidence]``: weights of the built-in ``evidence`` reranker."""

    model_config = ConfigDict(extra="forbid")

    dense: float = Field(0.6, ge=0, description="weight of the dense cosine")
    sentence: float = Field(
        0.3, ge=0, description="weight of the cosine of the passage's sentence nearest the question"
    )
    lexical: float = Field(0.25, ge=0, description="weight of the squared question-term coverage")
    section: float = Field(0.1, ge=0, description="weight of the squared section/title match")
    fused: float = Field(0.05, ge=0, description="weight of the fused dense+lexical rank")
    scale: float = Field(
        1.0, gt=0, le=5, description="multiplies the weighted mean (scores are capped at 1)"
    )


class KnowledgeSettings(BaseModel):
    """How knowledge is stored, parsed, chunked, embedded and queued."""

    model_config = ConfigDict(extra="forbid")

    embedder: str = Field("minilm", description="Name of a registered embedder.")
    vector_store: str = Field("chroma", description="Name of a registered vector store.")
    reranker: str = Field(
        "evidence", description="Name of a registered reranker (built in: evidence, http)."
    )
    lexical: bool = Field(
        True, description="Search the full-text index beside the vectors (hybrid retrieval)."
    )
    retrieval_candidates: int = Field(
        12, ge=1, le=200, description="Candidates each side (dense, lexical) hands to fusion."
    )
    evidence: EvidenceRerankerSettings = Field(default_factory=EvidenceRerankerSettings)
    sentence_vectors: bool = Field(
        True,
        description="Embed each chunk's sentences at ingestion too, so answers choose "
        "sentences by meaning without embedding them per question.",
    )
    # Chunks are measured in tiktoken tokens. 200 (not the seed's 500) keeps a chunk inside
    # MiniLM's 256-wordpiece window, so the whole chunk is embedded rather than its first half.
    chunk_size: int = Field(200, ge=32, le=8192)
    chunk_overlap: int = Field(20, ge=0)
    min_section_words: int = Field(
        40,
        ge=0,
        description="A section shorter than this is chunked with the next one (0: never).",
    )
    max_upload_mb: float = Field(
        50, gt=0, description="Largest accepted file, checked while streaming."
    )
    parse_timeout_seconds: float = Field(120, gt=0, description="Wall-clock limit of one parse.")
    parse_memory_mb: int = Field(
        1536, ge=256, description="Address-space limit of the parser process."
    )
    zip_max_entries: int = Field(5000, ge=10)
    zip_max_total_mb: int = Field(500, ge=1, description="Total uncompressed size of a DOCX/PPTX.")
    zip_max_ratio: int = Field(200, ge=10, description="Largest compression ratio of one entry.")
    max_chunks_per_source: int = Field(50_000, ge=1)
    embed_batch_size: int = Field(64, ge=1)
    queue: Literal["inprocess", "dramatiq"] = Field(
        "inprocess",
        description="inprocess: threads inside the server; dramatiq: Redis queue "
        "consumed by `bwenge worker` processes.",
    )
    workers: int = Field(
        default_factory=lambda: max(1, min(os.cpu_count() or 1, 8)),
        ge=1,
        le=64,
        description="Concurrent ingestion jobs per process (default: one per CPU, at most 8). "
        "Jobs are claimed round-robin across organisations.",
    )
    max_attempts: int = Field(
        3, ge=1, description="Tries before a source whose worker died is failed."
    )
    lease_seconds: float = Field(
        60,
        gt=0,
        description="A processing job whose heartbeat is older "
        "than this belongs to a dead worker and is retried (idle job slots look every "
        "lease_seconds / 4 at most).",
    )
    shutdown_grace_seconds: float = Field(
        3,
        ge=0,
        description="On SIGTERM, how long running jobs get to stop by themselves before "
        "they are handed back as pending (either way before the process exits).",
    )
    sweep_seconds: float = Field(
        15, gt=0, description="How often stuck or unqueued jobs are looked for."
    )
    straggler_grace_seconds: float = Field(
        3600,
        ge=0,
        description="Age after which a file in the blob store under knowledge/ that no "
        "source points at (an upload interrupted before its row committed) is deleted.",
    )
    straggler_sweep_seconds: float = Field(
        600, gt=0, description="How often the blob store is swept for such stragglers."
    )
    redis_url: str | None = Field(
        None, description="Redis for the dramatiq queue (default: redis_url)."
    )
    transcription_model: str = Field(
        "base", description="faster-whisper model size or local path (audio/video extra)."
    )

    @field_validator("queue")
    @classmethod
    def _dramatiq_installed(cls, value: str) -> str:
        if value == "dramatiq":
            extras.require("dramatiq", "knowledge.queue = 'dramatiq'")
            extras.require("redis", "knowledge.queue = 'dramatiq'")
        return value

    @model_validator(mode="after")
    def _overlap_below_size(self):
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_size ({self.chunk_size})"
            )
        return self

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * 1024 * 1024)

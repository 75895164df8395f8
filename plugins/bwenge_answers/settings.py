"""Settings of the answers plugin (section ``[answers]``)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AnswersSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    top_k: int = Field(5, ge=1, le=50, description="passages retrieved per question")
    min_relevance: float = Field(
        0.33,
        ge=0,
        le=1,
        description="there is material when a passage's dense cosine reaches this",
    )
    min_lexical: float = Field(
        0.36,
        ge=0,
        le=1,
        description="... or when a passage holds this share of the question's weighted terms",
    )
    lexical_dense_floor: float = Field(
        0.26,
        ge=0,
        le=1,
        description="... and its cosine still reaches this (a shared word alone is no material)",
    )
    keep_ratio: float = Field(
        0.6,
        ge=0,
        le=1,
        description="passages scoring below this share of the best one are not quoted",
    )
    history_turns: int = Field(
        6, ge=0, le=50, description="recent exchanges (question + answer) fed to the prompt"
    )
    max_message_chars: int = Field(4000, ge=1, le=100_000, description="longest question accepted")
    max_passage_chars: int = Field(
        2000, ge=100, le=20_000, description="passage text quoted to providers is cut to this"
    )
    max_answer_tokens: int | None = Field(None, ge=1, description="passed to LLM providers")

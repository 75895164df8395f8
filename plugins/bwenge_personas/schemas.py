"""Typed request bodies: the seed took raw dicts, Bwenge validates every field."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=80)]
Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
Question = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]


PERSONA_EXAMPLE: dict[str, Any] = {
    "name": "Ms. Uwase — Biology S3",
    "description": "Answers from the S3 biology notes.",
    "tone": {"style": "friendly", "formality": "casual"},
    "rules": {"guidelines": ["Be helpful", "Stay on topic"]},
    "sample_prompts": ["What does the mitochondria do?"],
    "safety_rules": ["No inappropriate content"],
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")

    def changes(self) -> dict[str, Any]:
        """Only the fields the caller sent, as plain JSON-able values."""
        out: dict[str, Any] = {}
        for key in self.model_fields_set:
            value = getattr(self, key)
            if isinstance(value, BaseModel):
                value = value.model_dump(exclude_unset=True)
            elif isinstance(value, list):
                value = [
                    v.model_dump(exclude_unset=True) if isinstance(v, BaseModel) else v
                    for v in value
                ]
            out[key] = value
        return out


class Tone(Strict):
    """How the persona sounds. The seed's keys (``style``, ``formality``) plus a few more."""

    style: Short | None = Field(None, description='e.g. "friendly", "encouraging", "concise"')
    formality: Short | None = Field(None, description='e.g. "casual", "neutral", "formal"')
    greeting: Line | None = Field(None, description="how the persona opens an answer to a greeting")
    sign_off: Line | None = Field(None, description="a closing line for longer answers")
    language: Short | None = Field(None, description='answer language, e.g. "en", "fr", "rw"')
    voice: Line | None = Field(None, description="a sentence describing the expert's voice")


class Rules(Strict):
    """What the persona must do. ``guidelines`` is the seed's key."""

    guidelines: list[Line] = Field(default_factory=list, max_length=50)
    topics: list[Short] = Field(
        default_factory=list,
        max_length=50,
        description="subjects the persona covers; others get a polite refusal",
    )
    max_answer_sentences: int | None = Field(None, ge=1, le=30)


class SampleDialog(Strict):
    """A question a recipient might ask, optionally with the answer the expert expects."""

    question: Question
    expected_answer: LongText | None = None


SamplePrompt = Question | SampleDialog


class PersonaFields(Strict):
    description: Description | None = None
    tone: Tone | None = None
    rules: Rules | None = None
    sample_prompts: list[SamplePrompt] | None = Field(None, max_length=30)
    safety_rules: list[Line] | None = Field(None, max_length=50)


class PersonaCreate(PersonaFields):
    """``POST /personas``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [PERSONA_EXAMPLE]})

    name: Name


class PersonaUpdate(PersonaFields):
    """``PUT /personas/{id}``: any field, all optional."""

    name: Name | None = None
    is_active: bool | None = None

    @model_validator(mode="after")
    def _no_nulls_for_required(self):
        for key in ("name", "is_active", "tone", "rules", "sample_prompts", "safety_rules"):
            if key in self.model_fields_set and getattr(self, key) is None:
                raise ValueError(f"{key} may not be null")
        return self


class PersonaSettingsUpdate(Strict):
    """``POST /personas/{id}/settings``."""

    tone: Tone | None = None
    rules: Rules | None = None
    safety_rules: list[Line] | None = Field(None, max_length=50)
    sample_prompts: list[SamplePrompt] | None = Field(None, max_length=30)


class ReleaseRequest(Strict):
    """``POST /personas/{id}/release``: ``override`` (admins and owners) skips readiness."""

    override: bool = False
    reason: Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)] | None = None

    @model_validator(mode="after")
    def _reason_for_override(self):
        if self.override and not self.reason:
            raise ValueError("an override needs a reason")
        return self


# -- responses ------------------------------------------------------------------------


class PersonaOut(BaseModel):
    """The seed's persona shape plus ``status`` and release facts."""

    persona_id: str
    org_id: str
    name: str
    description: str | None
    tone: dict[str, Any]
    rules: dict[str, Any]
    sample_prompts: list[str | dict[str, Any]]
    safety_rules: list[str]
    is_active: bool
    status: str = Field(description='"draft" or "released" (recipients see released ones)')
    created_by: str | None
    created_at: datetime | None
    updated_at: datetime | None
    released_at: datetime | None
    released_by: str | None
    release_override: bool
    release_reason: str | None


class KnowledgeSummary(BaseModel):
    available: bool
    sources: int
    ready_sources: int
    chunks: int
    source_list: list[dict[str, Any]]


class SampleDialogResult(BaseModel):
    question: str
    answered: bool
    response_text: str | None
    citations: list[dict[str, Any]]
    confidence: float | None = None
    provider: str | None = None
    error: str | None = None


class ReadinessReport(BaseModel):
    """What the persona has and what it still needs before release."""

    persona_id: str
    status: str
    ready: bool
    knowledge: KnowledgeSummary
    sample_dialogs: list[SampleDialogResult]
    missing: list[str]
    notes: list[str]
    requirements: dict[str, Any]


class ReleasedPersona(PersonaOut):
    readiness: ReadinessReport

"""Response bodies of the analytics plugin's routes (the seed's shapes, extended)."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, Field


class EventRecorded(BaseModel):
    event_id: int
    event_type: str
    recorded_at: datetime
    status: str


class PersonaCount(BaseModel):
    persona_id: str
    name: str
    interaction_count: int


class UsageStats(BaseModel):
    total_conversations: int
    avg_messages_per_conversation: float
    peak_usage_day: date | None
    daily_messages: dict[str, int]


class WeeklyReport(BaseModel):
    org_id: str
    week_start: datetime
    week_end: datetime
    total_messages: int
    active_users: int
    top_personas: list[PersonaCount]
    usage_stats: UsageStats
    scope: str = Field(description='"org", or "expert" when an expert sees their own personas')
    generated_at: datetime
    stored: bool = Field(description="A finished week's report, kept as it was computed")


class Period(BaseModel):
    start: datetime
    end: datetime
    days: int


class LearningMetrics(BaseModel):
    total_interactions: int
    total_conversations: int
    total_messages: int
    avg_conversation_length: float
    active_days: int
    engagement_score: float


class DayActivity(BaseModel):
    date: date
    interactions: int
    messages: int


class StudentProgress(BaseModel):
    student_id: str
    org_id: str
    period: Period
    learning_metrics: LearningMetrics
    daily_activity: list[DayActivity]
    persona_interactions: list[PersonaCount]
    progress_trend: str = Field(description="increasing, decreasing, stable or no_activity")
    scope: str


class DayMessages(BaseModel):
    date: date
    messages: int


class Dashboard(BaseModel):
    org_id: str
    scope: str
    generated_at: datetime
    totals: dict[str, int]
    daily_messages: list[DayMessages]
    top_personas: list[PersonaCount]


CSV = "text/csv"

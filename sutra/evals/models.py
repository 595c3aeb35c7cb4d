"""The tables of evaluations: golden sets (versioned) with their rows, runs and their results.

They live on :class:`sutra.store.models.Base`, so migrations and the schema test see them;
``sutra.store.models`` imports this module at its end for that reason.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from sutra.store.models import (
    ID_TYPE,
    Base,
    CleanString,
    CleanText,
    UTCDateTime,
    json_type,
    utcnow,
)


def _created_at() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())


def _fk(target: str, *, ondelete: str | None = None) -> Mapped[Any]:
    return mapped_column(ID_TYPE, ForeignKey(target, ondelete=ondelete), nullable=False)


class EvalGoldenSet(Base):
    """One version of a golden set: uploading a file under an existing name adds a version, so
    a run always points at the exact questions it was scored on."""

    __tablename__ = "eval_golden_sets"
    __table_args__ = (UniqueConstraint("organization_id", "name", "version"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    organization_id: Mapped[int] = _fk("organizations.id")
    name: Mapped[str] = mapped_column(CleanString())
    version: Mapped[int] = mapped_column(Integer())
    filename: Mapped[str | None] = mapped_column(CleanString())
    row_count: Mapped[int] = mapped_column(Integer())
    created_by: Mapped[str | None] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()


class EvalGoldenRow(Base):
    __tablename__ = "eval_golden_rows"
    __table_args__ = (UniqueConstraint("golden_set_id", "position"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    golden_set_id: Mapped[int] = _fk("eval_golden_sets.id", ondelete="CASCADE")
    # 1 for the first question; the file's row number is one more (the header is row 1).
    position: Mapped[int] = mapped_column(Integer())
    question: Mapped[str] = mapped_column(CleanText())
    expected: Mapped[str] = mapped_column(CleanText())
    category: Mapped[str | None] = mapped_column(CleanString())
    tags: Mapped[list[str]] = mapped_column(json_type(), default=list)


class EvalRun(Base):
    """An evaluation of a golden set against a target; ``status`` moves queued → running →
    completed | failed | cancelled. ``lease_until`` says which process works on it: a run whose
    lease ran out (its process died) is taken up by the next process that looks."""

    __tablename__ = "eval_runs"
    __table_args__ = (
        Index("ix_eval_runs_organization_id_created_at", "organization_id", "created_at"),
        Index("ix_eval_runs_status", "status"),
    )

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    organization_id: Mapped[int] = _fk("organizations.id")
    golden_set_id: Mapped[int] = _fk("eval_golden_sets.id")
    name: Mapped[str | None] = mapped_column(CleanString())
    # The target as run (a flow's node is copied in, so later edits do not change the run).
    target: Mapped[dict[str, Any]] = mapped_column(json_type())
    target_label: Mapped[str] = mapped_column(CleanString())
    # Duplication, concurrency, judge, similarity method, primary score.
    config: Mapped[dict[str, Any]] = mapped_column(json_type())
    status: Mapped[str] = mapped_column(CleanString(), default="queued")
    total: Mapped[int] = mapped_column(Integer())
    done: Mapped[int] = mapped_column(Integer(), default=0)
    failed: Mapped[int] = mapped_column(Integer(), default=0)
    estimate: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    summary: Mapped[dict[str, Any] | None] = mapped_column(json_type(none_as_null=True))
    error: Mapped[str | None] = mapped_column(CleanText())
    cancel_requested: Mapped[bool] = mapped_column(Boolean(), default=False)
    owner: Mapped[str | None] = mapped_column(CleanString())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_by: Mapped[str | None] = mapped_column(CleanString())
    created_at: Mapped[datetime] = _created_at()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class EvalResult(Base):
    """One answer to one question (one of its repeats) and its scores."""

    __tablename__ = "eval_results"
    # Unique: a row finished twice (a resumed run racing a slow one) is stored once.
    __table_args__ = (UniqueConstraint("run_id", "position", "repeat"),)

    id: Mapped[int] = mapped_column(ID_TYPE, primary_key=True)
    run_id: Mapped[int] = _fk("eval_runs.id", ondelete="CASCADE")
    position: Mapped[int] = mapped_column(Integer())
    repeat: Mapped[int] = mapped_column(Integer())
    answer: Mapped[str | None] = mapped_column(CleanText())
    error: Mapped[str | None] = mapped_column(CleanText())
    # The run's primary score (the judge's when it judges, else the similarity).
    score: Mapped[float | None] = mapped_column(Float())
    similarity: Mapped[float | None] = mapped_column(Float())
    judge_score: Mapped[float | None] = mapped_column(Float())
    judge_reasoning: Mapped[str | None] = mapped_column(CleanText())
    exact: Mapped[bool | None] = mapped_column(Boolean())
    contains: Mapped[bool | None] = mapped_column(Boolean())
    answer_chars: Mapped[int | None] = mapped_column(Integer())
    latency_ms: Mapped[float | None] = mapped_column(Float())
    prompt_tokens: Mapped[int] = mapped_column(Integer(), default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer(), default=0)
    cost: Mapped[float] = mapped_column(Float(), default=0.0)
    created_at: Mapped[datetime] = _created_at()

"""AI evaluations: golden sets (versioned) and their rows, runs and their results.

Revision ID: 0010
Revises: 0009
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[object]:
    from sqlalchemy.dialects.postgresql import JSONB

    return sa.JSON().with_variant(JSONB(), "postgresql")


def _created_at() -> sa.Column[object]:
    return sa.Column(
        "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "eval_golden_sets",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("filename", sa.String(), nullable=True),
        sa.Column("row_count", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_eval_golden_sets"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_eval_golden_sets_organization_id_organizations",
        ),
        sa.UniqueConstraint(
            "organization_id",
            "name",
            "version",
            name="uq_eval_golden_sets_organization_id_name_version",
        ),
    )
    op.create_table(
        "eval_golden_rows",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("golden_set_id", _id_type(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("question", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("tags", _json(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_eval_golden_rows"),
        sa.ForeignKeyConstraint(
            ["golden_set_id"],
            ["eval_golden_sets.id"],
            name="fk_eval_golden_rows_golden_set_id_eval_golden_sets",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "golden_set_id", "position", name="uq_eval_golden_rows_golden_set_id_position"
        ),
    )
    op.create_table(
        "eval_runs",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("organization_id", _id_type(), nullable=False),
        sa.Column("golden_set_id", _id_type(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("target", _json(), nullable=False),
        sa.Column("target_label", sa.String(), nullable=False),
        sa.Column("config", _json(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("estimate", _json(), nullable=True),
        sa.Column("summary", _json(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(), nullable=True),
        _created_at(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_eval_runs"),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name="fk_eval_runs_organization_id_organizations",
        ),
        sa.ForeignKeyConstraint(
            ["golden_set_id"],
            ["eval_golden_sets.id"],
            name="fk_eval_runs_golden_set_id_eval_golden_sets",
        ),
    )
    op.create_index(
        "ix_eval_runs_organization_id_created_at", "eval_runs", ["organization_id", "created_at"]
    )
    op.create_index("ix_eval_runs_status", "eval_runs", ["status"])
    op.create_table(
        "eval_results",
        sa.Column("id", _id_type(), primary_key=True, autoincrement=True),
        sa.Column("run_id", _id_type(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("repeat", sa.Integer(), nullable=False),
        sa.Column("answer", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column("judge_score", sa.Float(), nullable=True),
        sa.Column("judge_reasoning", sa.Text(), nullable=True),
        sa.Column("exact", sa.Boolean(), nullable=True),
        sa.Column("contains", sa.Boolean(), nullable=True),
        sa.Column("answer_chars", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        _created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_eval_results"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["eval_runs.id"],
            name="fk_eval_results_run_id_eval_runs",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint(
            "run_id", "position", "repeat", name="uq_eval_results_run_id_position_repeat"
        ),
    )


def downgrade() -> None:
    op.drop_table("eval_results")
    op.drop_index("ix_eval_runs_status", table_name="eval_runs")
    op.drop_index("ix_eval_runs_organization_id_created_at", table_name="eval_runs")
    op.drop_table("eval_runs")
    op.drop_table("eval_golden_rows")
    op.drop_table("eval_golden_sets")

"""Initial schema, and the default organization (id 1).

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand; tests/test_store.py checks it against sutra/store/models.py.
Types are spelled out here rather than imported from the models, so that this
file keeps describing revision 0001 whatever the models become.
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id_type() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _id() -> sa.Column[Any]:
    return sa.Column("id", _id_type(), primary_key=True, autoincrement=True)


def _fk(name: str, nullable: bool = False) -> sa.Column[Any]:
    return sa.Column(name, _id_type(), nullable=nullable)


def _json(none_as_null: bool = False) -> sa.types.TypeEngine[Any]:
    return sa.JSON(none_as_null=none_as_null).with_variant(
        postgresql.JSONB(none_as_null=none_as_null), "postgresql"
    )


def _ts(name: str, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _timestamps(updated: bool = True) -> list[sa.Column[Any]]:
    columns = [
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        )
    ]
    if updated:
        columns.append(
            sa.Column(
                "updated_at",
                sa.DateTime(timezone=True),
                server_default=sa.func.now(),
                nullable=False,
            )
        )
    return columns


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=f"fk_{table}_organization_id_organizations",
    )


def _contact_fk(table: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["contact_id"],
        ["contacts.id"],
        name=f"fk_{table}_contact_id_contacts",
        ondelete=ondelete,
    )


def upgrade() -> None:
    op.create_table(
        "organizations",
        _id(),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), server_default="UTC", nullable=False),
        sa.Column("settings", _json(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_organizations"),
    )

    op.create_table(
        "contacts",
        _id(),
        sa.Column("uuid", sa.String(), nullable=False),
        _fk("organization_id"),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("urn", sa.String(), nullable=False),
        sa.Column("phone", sa.String(), nullable=True),
        sa.Column("language", sa.String(), nullable=True),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("status", sa.String(), server_default="active", nullable=False),
        _ts("last_message_at"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_contacts"),
        _org_fk("contacts"),
        sa.UniqueConstraint("uuid", name="uq_contacts_uuid"),
        sa.UniqueConstraint("organization_id", "urn", name="uq_contacts_organization_id_urn"),
    )

    op.create_table(
        "groups",
        _id(),
        sa.Column("uuid", sa.String(), nullable=False),
        _fk("organization_id"),
        sa.Column("name", sa.String(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_groups"),
        _org_fk("groups"),
        sa.UniqueConstraint("uuid", name="uq_groups_uuid"),
        sa.UniqueConstraint("organization_id", "name", name="uq_groups_organization_id_name"),
    )

    op.create_table(
        "contact_groups",
        _fk("contact_id"),
        _fk("group_id"),
        sa.PrimaryKeyConstraint("contact_id", "group_id", name="pk_contact_groups"),
        _contact_fk("contact_groups", "CASCADE"),
        sa.ForeignKeyConstraint(
            ["group_id"],
            ["groups.id"],
            name="fk_contact_groups_group_id_groups",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_contact_groups_group_id", "contact_groups", ["group_id"])

    op.create_table(
        "contact_fields",
        _id(),
        _fk("organization_id"),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value_type", sa.String(), server_default="text", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_contact_fields"),
        _org_fk("contact_fields"),
        sa.UniqueConstraint("organization_id", "key", name="uq_contact_fields_organization_id_key"),
    )

    op.create_table(
        "globals",
        _id(),
        _fk("organization_id"),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_globals"),
        _org_fk("globals"),
        sa.UniqueConstraint("organization_id", "key", name="uq_globals_organization_id_key"),
    )

    # flows.current_revision_id -> flow_revisions is added once both tables exist.
    op.create_table(
        "flows",
        _id(),
        sa.Column("uuid", sa.String(), nullable=False),
        _fk("organization_id"),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("keywords", _json(), nullable=False),
        sa.Column("archived", sa.Boolean(), server_default=sa.false(), nullable=False),
        _fk("current_revision_id", nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_flows"),
        _org_fk("flows"),
        sa.UniqueConstraint("organization_id", "uuid", name="uq_flows_organization_id_uuid"),
    )

    op.create_table(
        "flow_revisions",
        _id(),
        _fk("flow_id"),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("definition", _json(), nullable=False),
        sa.Column("spec_version", sa.String(), nullable=False),
        sa.Column("issues", _json(), nullable=False),
        sa.Column("created_by", sa.String(), nullable=True),
        *_timestamps(updated=False),
        sa.PrimaryKeyConstraint("id", name="pk_flow_revisions"),
        sa.ForeignKeyConstraint(
            ["flow_id"],
            ["flows.id"],
            name="fk_flow_revisions_flow_id_flows",
            ondelete="CASCADE",
        ),
        sa.UniqueConstraint("flow_id", "revision", name="uq_flow_revisions_flow_id_revision"),
    )

    # Batch mode, because SQLite cannot add a constraint to an existing table:
    # there the (still empty) table is rebuilt; PostgreSQL gets an ALTER TABLE.
    with op.batch_alter_table("flows") as batch:
        batch.create_foreign_key(
            "fk_flows_current_revision_id_flow_revisions",
            "flow_revisions",
            ["current_revision_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "sessions",
        _id(),
        sa.Column("uuid", sa.String(), nullable=False),
        _fk("organization_id"),
        _fk("contact_id"),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("state", _json(), nullable=False),
        sa.Column("wait_kind", sa.String(), nullable=True),
        _ts("wait_timeout_at"),
        _ts("expires_at"),
        sa.Column("current_flow_uuid", sa.String(), nullable=True),
        _ts("ended_at"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_sessions"),
        _org_fk("sessions"),
        _contact_fk("sessions", "CASCADE"),
        sa.UniqueConstraint("uuid", name="uq_sessions_uuid"),
    )
    op.create_index("ix_sessions_contact_id_status", "sessions", ["contact_id", "status"])
    op.create_index("ix_sessions_wait_timeout_at", "sessions", ["wait_timeout_at"])
    op.create_index("ix_sessions_expires_at", "sessions", ["expires_at"])

    op.create_table(
        "runs",
        _id(),
        sa.Column("uuid", sa.String(), nullable=False),
        _fk("session_id"),
        sa.Column("flow_uuid", sa.String(), nullable=False),
        _fk("contact_id"),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("results", _json(), nullable=False),
        sa.Column("path", _json(), nullable=False),
        _ts("exited_at"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        sa.ForeignKeyConstraint(
            ["session_id"],
            ["sessions.id"],
            name="fk_runs_session_id_sessions",
            ondelete="CASCADE",
        ),
        _contact_fk("runs", "CASCADE"),
        sa.UniqueConstraint("uuid", name="uq_runs_uuid"),
    )
    op.create_index("ix_runs_session_id", "runs", ["session_id"])
    op.create_index("ix_runs_contact_id", "runs", ["contact_id"])

    op.create_table(
        "messages",
        _id(),
        sa.Column("uuid", sa.String(), nullable=False),
        _fk("organization_id"),
        _fk("contact_id"),
        sa.Column("direction", sa.String(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("attachments", _json(), nullable=False),
        sa.Column("quick_replies", _json(), nullable=False),
        sa.Column("labels", _json(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("external_id", sa.String(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("session_uuid", sa.String(), nullable=True),
        sa.Column("flow_uuid", sa.String(), nullable=True),
        sa.Column("payload", _json(none_as_null=True), nullable=True),
        _ts("sent_at"),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_messages"),
        _org_fk("messages"),
        _contact_fk("messages", "CASCADE"),
        sa.UniqueConstraint("uuid", name="uq_messages_uuid"),
        sa.UniqueConstraint("channel", "external_id", name="uq_messages_channel_external_id"),
    )
    op.create_index("ix_messages_contact_id_created_at", "messages", ["contact_id", "created_at"])
    op.create_index(
        "ix_messages_organization_id_created_at", "messages", ["organization_id", "created_at"]
    )

    op.create_table(
        "flow_results",
        _id(),
        _fk("organization_id"),
        sa.Column("flow_uuid", sa.String(), nullable=False),
        sa.Column("run_uuid", sa.String(), nullable=False),
        sa.Column("session_uuid", sa.String(), nullable=False),
        _fk("contact_id"),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("input", sa.Text(), nullable=True),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("category", sa.String(), nullable=True),
        sa.Column("data", _json(none_as_null=True), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name="pk_flow_results"),
        _org_fk("flow_results"),
        _contact_fk("flow_results", "CASCADE"),
        sa.UniqueConstraint("run_uuid", "key", name="uq_flow_results_run_uuid_key"),
    )
    op.create_index(
        "ix_flow_results_organization_id_flow_uuid",
        "flow_results",
        ["organization_id", "flow_uuid"],
    )
    op.create_index("ix_flow_results_contact_id", "flow_results", ["contact_id"])

    op.create_table(
        "webhook_logs",
        _id(),
        _fk("organization_id"),
        _fk("contact_id", nullable=True),
        sa.Column("flow_uuid", sa.String(), nullable=True),
        sa.Column("session_uuid", sa.String(), nullable=True),
        sa.Column("result_name", sa.String(), nullable=True),
        sa.Column("method", sa.String(), nullable=False),
        sa.Column("url", sa.Text(), nullable=False),
        sa.Column("request", _json(none_as_null=True), nullable=True),
        sa.Column("response", _json(none_as_null=True), nullable=True),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("duration_ms", sa.Float(), nullable=True),
        sa.Column("llm_provider", sa.String(), nullable=True),
        sa.Column("llm_model", sa.String(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        *_timestamps(updated=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_logs"),
        _org_fk("webhook_logs"),
        _contact_fk("webhook_logs", "SET NULL"),
    )
    op.create_index(
        "ix_webhook_logs_organization_id_created_at",
        "webhook_logs",
        ["organization_id", "created_at"],
    )
    op.create_index("ix_webhook_logs_contact_id", "webhook_logs", ["contact_id"])

    organizations = sa.table(
        "organizations",
        sa.column("id", _id_type()),
        sa.column("name", sa.String()),
        sa.column("timezone", sa.String()),
        sa.column("settings", _json()),
    )
    op.bulk_insert(organizations, [{"id": 1, "name": "Default", "timezone": "UTC", "settings": {}}])
    if op.get_bind().dialect.name == "postgresql":
        # An explicit id does not advance the sequence; without this the next
        # organization created would be given id 1 again.
        op.execute(
            "SELECT setval(pg_get_serial_sequence('organizations', 'id'), "
            "(SELECT max(id) FROM organizations))"
        )


def downgrade() -> None:
    with op.batch_alter_table("flows") as batch:
        batch.drop_constraint("fk_flows_current_revision_id_flow_revisions", type_="foreignkey")
    for table in (
        "webhook_logs",
        "flow_results",
        "messages",
        "runs",
        "sessions",
        "flow_revisions",
        "flows",
        "globals",
        "contact_fields",
        "contact_groups",
        "groups",
        "contacts",
        "organizations",
    ):
        op.drop_table(table)

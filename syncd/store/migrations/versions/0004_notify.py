"""Notifications: alert lifecycle and audit trail, silences, the outbox and its files, the
Slack user cache, and weekly pipeline snapshots (tables ``alert``, ``alert_transition``,
``alert_group``, ``silence``, ``outbox``, ``outbox_file``, ``slack_user``,
``pipeline_snapshot``).

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    kind = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
    return sa.Column(name, kind, nullable=nullable)


def _json(name: str, nullable: bool) -> sa.Column[object]:
    jsonb = postgresql.JSONB(none_as_null=True)
    kind = sa.JSON(none_as_null=True).with_variant(jsonb, "postgresql")
    return sa.Column(name, kind, nullable=nullable)


def _id(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "alert",
        _id("fingerprint"),
        _id("grp"),
        _id("state"),
        _id("kind"),
        _id("subject"),
        _id("severity", True),
        sa.Column("episode", sa.Integer(), nullable=False),
        _when("since"),
        _json("memory", False),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("fingerprint"),
    )
    op.create_index("ix_alert_grp", "alert", ["grp"])
    op.create_table(
        "alert_transition",
        sa.Column("id", sa.Integer(), nullable=False),
        _id("fingerprint"),
        _id("grp"),
        _id("from_state", True),
        _id("to_state"),
        _when("at"),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        _id("run_id", True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_transition_at", "alert_transition", ["at"])
    op.create_index(
        "ix_alert_transition_fingerprint_at", "alert_transition", ["fingerprint", "at"]
    )
    op.create_table(
        "alert_group",
        _id("grp"),
        _json("log", True),
        sa.Column("parent_outbox_id", sa.Integer(), nullable=True),
        _when("updated_at"),
        sa.PrimaryKeyConstraint("grp"),
    )
    op.create_table(
        "silence",
        _id("id"),
        _id("fingerprint", True),
        _id("grp", True),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("reason", sa.Text(), nullable=True),
        _id("created_by", True),
        _when("created_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        _id("dedup_key"),
        _id("kind"),
        _id("channel", True),
        _json("payload", False),
        sa.Column("thread_of", sa.Integer(), nullable=True),
        sa.Column("update_of", sa.Integer(), nullable=True),
        _id("status"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("created_at"),
        _when("not_before", True),
        _when("sending_at", True),
        _when("sent_at", True),
        _id("channel_id", True),
        _id("ts", True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name="ck_outbox_status"
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedup_key"),
    )
    op.create_index("ix_outbox_status_id", "outbox", ["status", "id"])
    op.create_table(
        "outbox_file",
        sa.Column("outbox_id", sa.Integer(), nullable=False),
        _id("name"),
        _id("title", True),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        _id("file_id", True),
        sa.PrimaryKeyConstraint("outbox_id", "name"),
    )
    op.create_table(
        "slack_user",
        _id("email"),
        _id("user_id", True),
        _when("looked_up_at"),
        sa.PrimaryKeyConstraint("email"),
    )
    op.create_table(
        "pipeline_snapshot",
        sa.Column("taken_on", sa.Date(), nullable=False),
        _id("deal_id"),
        sa.Column("amount", sa.Numeric(20, 6, asdecimal=False), nullable=True),
        _when("close_date", True),
        _id("stage_id", True),
        _id("pipeline_id", True),
        _id("owner_id", True),
        _when("taken_at"),
        sa.PrimaryKeyConstraint("taken_on", "deal_id"),
    )


def downgrade() -> None:
    for name in ("pipeline_snapshot", "slack_user", "outbox_file", "outbox", "silence",
                 "alert_group", "alert_transition", "alert"):
        op.drop_table(name)

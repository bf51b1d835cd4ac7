"""Initial schema: CRM records, deal stage history and company links, sync state and runs.

The column types are spelled out here rather than imported from ``syncd.store.types``, so
that this migration keeps creating the schema it created on the day it was written even if
those types change later (a change needs its own migration):

* datetimes: ``timestamptz`` on PostgreSQL, ``VARCHAR(32)`` UTC text on SQLite;
* money: ``numeric(20, 6)``;
* JSON: ``jsonb`` on PostgreSQL, ``JSON`` on SQLite;
* ``deal_stage_history`` and ``deal_company``: ``WITHOUT ROWID`` on SQLite.

Revision ID: 0001
Revises: (none)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    kind = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
    return sa.Column(name, kind, nullable=nullable)


def _text(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.String(), nullable=nullable)


def _json(name: str) -> sa.Column[object]:
    kind = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )
    return sa.Column(name, kind, nullable=True)


def _money(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Numeric(20, 6, asdecimal=False), nullable=True)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), server_default=sa.false(), nullable=False)


def _int(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), nullable=True)


def upgrade() -> None:
    op.create_table(
        "owner",
        _text("id", nullable=False),
        _text("email"),
        _text("first_name"),
        _text("last_name"),
        _text("user_id"),
        _json("teams"),
        _flag("archived"),
        _when("synced_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "pipeline",
        _text("id", nullable=False),
        _text("label"),
        _int("display_order"),
        _flag("archived"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "stage",
        _text("pipeline_id", nullable=False),
        _text("id", nullable=False),
        _text("label"),
        _int("display_order"),
        sa.Column("probability", sa.Float(), nullable=True),
        _flag("is_closed"),
        _flag("is_won"),
        sa.PrimaryKeyConstraint("pipeline_id", "id"),
    )

    op.create_table(
        "deal",
        _text("id", nullable=False),
        _text("name"),
        _money("amount"),
        _text("currency"),
        _text("pipeline_id"),
        _text("stage_id"),
        _text("owner_id"),
        _when("created_at"),
        _when("close_date"),
        _money("mrr"),
        _text("deal_type"),
        _when("modified_at"),
        _json("custom"),
        _flag("archived"),
        _when("archived_at"),
        _json("problems"),
        _when("synced_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deal_close_date", "deal", ["close_date"])
    op.create_index("ix_deal_stage_id", "deal", ["stage_id"])
    op.create_index("ix_deal_pipeline_id_stage_id", "deal", ["pipeline_id", "stage_id"])
    op.create_index("ix_deal_owner_id", "deal", ["owner_id"])
    op.create_index("ix_deal_modified_at", "deal", ["modified_at"])

    op.create_table(
        "deal_stage_history",
        _text("deal_id", nullable=False),
        _text("stage_id", nullable=False),
        _when("entered_at"),
        _when("exited_at"),
        sa.PrimaryKeyConstraint("deal_id", "stage_id"),
        sqlite_with_rowid=False,
    )
    op.create_index(
        "ix_deal_stage_history_stage_id_entered_at",
        "deal_stage_history",
        ["stage_id", "entered_at"],
    )

    op.create_table(
        "deal_company",
        _text("deal_id", nullable=False),
        _text("company_id", nullable=False),
        sa.PrimaryKeyConstraint("deal_id", "company_id"),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_deal_company_company_id", "deal_company", ["company_id"])

    op.create_table(
        "company",
        _text("id", nullable=False),
        _text("name"),
        _text("domain"),
        _text("segment"),
        _text("lifecycle_stage"),
        _when("customer_since"),
        _when("churned_at"),
        _text("owner_id"),
        _when("created_at"),
        _when("modified_at"),
        _json("custom"),
        _flag("archived"),
        _when("archived_at"),
        _json("problems"),
        _when("synced_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_company_segment", "company", ["segment"])
    op.create_index("ix_company_churned_at", "company", ["churned_at"])
    op.create_index("ix_company_customer_since", "company", ["customer_since"])

    op.create_table(
        "contact",
        _text("id", nullable=False),
        _text("email"),
        _text("lifecycle_stage"),
        _text("company_id"),
        _text("owner_id"),
        _when("created_at"),
        _when("modified_at"),
        _when("became_lead_at"),
        _when("became_mql_at"),
        _when("became_sql_at"),
        _when("became_opportunity_at"),
        _when("became_customer_at"),
        _json("custom"),
        _flag("archived"),
        _when("archived_at"),
        _json("problems"),
        _when("synced_at"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_contact_company_id", "contact", ["company_id"])
    op.create_index("ix_contact_became_sql_at", "contact", ["became_sql_at"])
    op.create_index("ix_contact_became_customer_at", "contact", ["became_customer_at"])
    op.create_index("ix_contact_modified_at", "contact", ["modified_at"])

    op.create_table(
        "sync_state",
        _text("source", nullable=False),
        _text("object", nullable=False),
        _json("cursor"),
        _when("last_success_at"),
        _int("last_run_id"),
        sa.Column("last_error", sa.Text(), nullable=True),
        _when("last_error_at"),
        sa.Column("records_seen", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        _when("last_reconcile_at"),
        sa.PrimaryKeyConstraint("source", "object"),
    )
    op.create_table(
        "sync_run",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _text("source", nullable=False),
        _text("kind", nullable=False),
        _when("started_at", nullable=False),
        _when("finished_at"),
        _text("status", nullable=False),
        _json("summary"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.CheckConstraint("kind IN ('full', 'incremental')", name="ck_sync_run_kind"),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'interrupted')", name="ck_sync_run_status"
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for table in (
        "sync_run",
        "sync_state",
        "contact",
        "company",
        "deal_company",
        "deal_stage_history",
        "deal",
        "stage",
        "pipeline",
        "owner",
    ):
        op.drop_table(table)

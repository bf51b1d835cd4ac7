"""The SQL tables: canonical CRM records, their links, and sync bookkeeping.

One row per CRM record, keyed by the CRM's id. Columns the connector could not fill are NULL;
only ids and flags are NOT NULL, so a tombstone for a record never seen can still be stored as
a minimal archived row. No foreign keys: a deal may name an owner or company that has not been
synced yet (or was deleted); the metric queries join with LEFT JOINs.

Datetimes are :class:`~syncd.store.types.UTCDateTime` (aware UTC), money is
:data:`~syncd.store.types.MONEY` (float out), JSON is :data:`~syncd.store.types.JSON_DOC`.
``problems`` is NULL when the record parsed cleanly, else a JSON list of messages.
On SQLite, ``deal_stage_history`` and ``deal_company`` are ``WITHOUT ROWID`` tables: small rows
keyed by their composite primary key, so each insert updates one b-tree less.

Changing a table here without a migration in ``migrations/versions/`` fails
``tests/store/test_migrations.py``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from syncd.store.types import JSON_DOC, MONEY, UTCDateTime

#: The metadata every table of syncd lives in (alembic compares the database with it).
METADATA = SQLModel.metadata

_ID = sa.String()
_TEXT = sa.String()


def _flag() -> Any:
    return Field(default=False, sa_type=sa.Boolean, sa_column_kwargs={"server_default": sa.false()})


def _when() -> Any:
    return Field(default=None, sa_type=UTCDateTime)


def _text() -> Any:
    return Field(default=None, sa_type=_TEXT)


def _json() -> Any:
    return Field(default=None, sa_type=JSON_DOC)


# --------------------------------------------------------------------------- CRM records


class OwnerRow(SQLModel, table=True):
    __tablename__ = "owner"

    id: str = Field(primary_key=True, sa_type=_ID)
    email: str | None = _text()
    first_name: str | None = _text()
    last_name: str | None = _text()
    user_id: str | None = _text()
    teams: list[str] | None = _json()
    archived: bool = _flag()
    synced_at: datetime | None = _when()


class PipelineRow(SQLModel, table=True):
    __tablename__ = "pipeline"

    id: str = Field(primary_key=True, sa_type=_ID)
    label: str | None = _text()
    display_order: int | None = Field(default=None, sa_type=sa.Integer)
    archived: bool = _flag()


class StageRow(SQLModel, table=True):
    """Stage ids are unique per pipeline only (HubSpot), hence the composite key."""

    __tablename__ = "stage"

    pipeline_id: str = Field(primary_key=True, sa_type=_ID)
    id: str = Field(primary_key=True, sa_type=_ID)
    label: str | None = _text()
    display_order: int | None = Field(default=None, sa_type=sa.Integer)
    probability: float | None = Field(default=None, sa_type=sa.Float)
    is_closed: bool = _flag()
    is_won: bool = _flag()


class DealRow(SQLModel, table=True):
    """The last six columns summarise the deal's child rows, written with them by
    ``Store.write_page`` (``deal_stage_history`` and ``deal_company`` are only ever written
    with their deal), so the metric queries need not read those tables for most deals:

    - ``last_visit_stage_id``, ``last_visit_at``: the history entry entered last (ties: the
      greater stage id), NULL without history; ``prev_visit_*`` the one before it. At an
      instant on or after ``last_visit_at`` the deal's stage is the last one, between the
      two the previous one (see :mod:`syncd.metrics.sql`);
    - ``company_count``: how many companies the deal is linked to; ``sole_company_id``: the
      company when there is exactly one, else NULL.

    The three wide indexes cover the metric queries that read many deals, so those never
    read the table: ``ix_deal_current_stage`` the deals in a stage now (won deals: MRR,
    revenue), ``ix_deal_last_visit`` the deals by the stage they were last in (the open
    pipeline), ``ix_deal_last_visit_at`` the deals with a stage change after an instant.
    """

    __tablename__ = "deal"
    __table_args__ = (
        sa.Index("ix_deal_close_date", "close_date"),
        sa.Index("ix_deal_stage_id", "stage_id"),
        sa.Index("ix_deal_owner_id", "owner_id"),
        sa.Index("ix_deal_modified_at", "modified_at"),
        sa.Index("ix_deal_current_stage", "pipeline_id", "stage_id", "close_date", "created_at",
                 "archived", "archived_at", "amount", "mrr", "currency", "company_count",
                 "sole_company_id", "id"),
        sa.Index("ix_deal_last_visit", "pipeline_id", "last_visit_stage_id", "last_visit_at",
                 "created_at", "archived", "archived_at", "amount", "currency"),
        sa.Index("ix_deal_last_visit_at", "last_visit_at", "prev_visit_at",
                 "prev_visit_stage_id", "pipeline_id", "stage_id", "close_date", "created_at",
                 "archived", "archived_at", "amount", "currency", "id"),
    )

    id: str = Field(primary_key=True, sa_type=_ID)
    name: str | None = _text()
    amount: float | None = Field(default=None, sa_type=MONEY)
    currency: str | None = _text()
    pipeline_id: str | None = _text()
    stage_id: str | None = _text()
    owner_id: str | None = _text()
    created_at: datetime | None = _when()
    close_date: datetime | None = _when()
    mrr: float | None = Field(default=None, sa_type=MONEY)
    deal_type: str | None = _text()
    modified_at: datetime | None = _when()
    custom: dict[str, Any] | None = _json()
    archived: bool = _flag()
    archived_at: datetime | None = _when()
    problems: list[str] | None = _json()
    synced_at: datetime | None = _when()
    last_visit_stage_id: str | None = _text()
    last_visit_at: datetime | None = _when()
    prev_visit_stage_id: str | None = _text()
    prev_visit_at: datetime | None = _when()
    company_count: int = Field(
        default=0, sa_type=sa.Integer, sa_column_kwargs={"server_default": sa.text("0")}
    )
    sole_company_id: str | None = _text()


class DealStageHistoryRow(SQLModel, table=True):
    """One row per (deal, stage): the deal's latest visit of that stage."""

    __tablename__ = "deal_stage_history"
    __table_args__ = (
        sa.Index("ix_deal_stage_history_stage_id_entered_at", "stage_id", "entered_at"),
        {"sqlite_with_rowid": False},
    )

    deal_id: str = Field(primary_key=True, sa_type=_ID)
    stage_id: str = Field(primary_key=True, sa_type=_ID)
    entered_at: datetime | None = _when()
    exited_at: datetime | None = _when()


class DealCompanyRow(SQLModel, table=True):
    __tablename__ = "deal_company"
    __table_args__ = (
        sa.Index("ix_deal_company_company_id", "company_id"),
        {"sqlite_with_rowid": False},
    )

    deal_id: str = Field(primary_key=True, sa_type=_ID)
    company_id: str = Field(primary_key=True, sa_type=_ID)


class CompanyRow(SQLModel, table=True):
    __tablename__ = "company"
    __table_args__ = (
        sa.Index("ix_company_segment", "segment"),
        sa.Index("ix_company_churned_at", "churned_at"),
        sa.Index("ix_company_customer_since", "customer_since"),
    )

    id: str = Field(primary_key=True, sa_type=_ID)
    name: str | None = _text()
    domain: str | None = _text()
    segment: str | None = _text()
    lifecycle_stage: str | None = _text()
    customer_since: datetime | None = _when()
    churned_at: datetime | None = _when()
    owner_id: str | None = _text()
    created_at: datetime | None = _when()
    modified_at: datetime | None = _when()
    custom: dict[str, Any] | None = _json()
    archived: bool = _flag()
    archived_at: datetime | None = _when()
    problems: list[str] | None = _json()
    synced_at: datetime | None = _when()


class ContactRow(SQLModel, table=True):
    __tablename__ = "contact"
    __table_args__ = (
        sa.Index("ix_contact_company_id", "company_id"),
        sa.Index("ix_contact_became_sql_at", "became_sql_at"),
        sa.Index("ix_contact_became_customer_at", "became_customer_at"),
        sa.Index("ix_contact_modified_at", "modified_at"),
    )

    id: str = Field(primary_key=True, sa_type=_ID)
    email: str | None = _text()
    lifecycle_stage: str | None = _text()
    company_id: str | None = _text()
    owner_id: str | None = _text()
    created_at: datetime | None = _when()
    modified_at: datetime | None = _when()
    became_lead_at: datetime | None = _when()
    became_mql_at: datetime | None = _when()
    became_sql_at: datetime | None = _when()
    became_opportunity_at: datetime | None = _when()
    became_customer_at: datetime | None = _when()
    custom: dict[str, Any] | None = _json()
    archived: bool = _flag()
    archived_at: datetime | None = _when()
    problems: list[str] | None = _json()
    synced_at: datetime | None = _when()


# --------------------------------------------------------------------------- bookkeeping


class SyncStateRow(SQLModel, table=True):
    """Where each (source, object) stands: the connector's checkpoint and the last outcomes.

    ``records_seen`` is a running total over all successful runs. ``last_error`` is kept after
    a later success (history); the object is failing while ``last_error_at`` is newer than
    ``last_success_at``.
    """

    __tablename__ = "sync_state"

    source: str = Field(primary_key=True, sa_type=_ID)
    object: str = Field(primary_key=True, sa_type=_ID)
    cursor: dict[str, Any] | None = _json()
    last_success_at: datetime | None = _when()
    last_run_id: int | None = Field(default=None, sa_type=sa.Integer)
    last_error: str | None = Field(default=None, sa_type=sa.Text)
    last_error_at: datetime | None = _when()
    records_seen: int = Field(
        default=0, sa_type=sa.BigInteger, sa_column_kwargs={"server_default": sa.text("0")}
    )
    last_reconcile_at: datetime | None = _when()


RUN_KINDS = ("full", "incremental")
RUN_STATUSES = ("running", "ok", "failed", "interrupted")


class SyncRunRow(SQLModel, table=True):
    __tablename__ = "sync_run"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('full', 'incremental')", name="ck_sync_run_kind"),
        sa.CheckConstraint(
            "status IN ('running', 'ok', 'failed', 'interrupted')", name="ck_sync_run_status"
        ),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.Integer)
    source: str = Field(sa_type=_ID)
    kind: str = Field(sa_type=_ID)
    started_at: datetime = Field(sa_type=UTCDateTime)
    finished_at: datetime | None = _when()
    status: str = Field(sa_type=_ID)
    summary: dict[str, Any] | None = _json()
    error: str | None = Field(default=None, sa_type=sa.Text)


class SnapshotRow(SQLModel, table=True):
    """One value per series (a KR, an alert rule's metric) and local day.

    ``live`` rows were taken on their day from the data as it then stood (the last evaluation
    of the day wins); other rows were reconstructed later from dates and stage history.
    ``definition`` identifies what was measured (metric, filters, params, window): a row whose
    definition differs from the series' current one is stale and recomputed, never mixed in.
    """

    __tablename__ = "snapshot"

    series: str = Field(primary_key=True, sa_type=_ID)
    day: date = Field(primary_key=True, sa_type=sa.Date)
    definition: str = Field(sa_type=_ID)
    value: float | None = Field(default=None, sa_type=sa.Float)
    detail: dict[str, Any] | None = _json()
    as_of: datetime = Field(sa_type=UTCDateTime)
    live: bool = _flag()
    computed_at: datetime = Field(sa_type=UTCDateTime)


owner = METADATA.tables["owner"]
pipeline = METADATA.tables["pipeline"]
stage = METADATA.tables["stage"]
deal = METADATA.tables["deal"]
deal_stage_history = METADATA.tables["deal_stage_history"]
deal_company = METADATA.tables["deal_company"]
company = METADATA.tables["company"]
contact = METADATA.tables["contact"]
sync_state = METADATA.tables["sync_state"]
sync_run = METADATA.tables["sync_run"]
snapshot = METADATA.tables["snapshot"]

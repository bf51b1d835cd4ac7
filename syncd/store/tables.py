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


# --------------------------------------------------------------------------- notifications


class AlertRow(SQLModel, table=True):
    """The lifecycle of one alert (a finding's fingerprint): ``memory`` is ``rules.alerts``'
    ``AlertMemory`` as JSON; the other columns repeat what listing needs."""

    __tablename__ = "alert"

    fingerprint: str = Field(primary_key=True, sa_type=_ID)
    grp: str = Field(sa_type=_ID, index=True)
    state: str = Field(sa_type=_ID)
    kind: str = Field(sa_type=_ID)
    subject: str = Field(sa_type=_ID)
    severity: str | None = _text()
    episode: int = Field(default=0, sa_type=sa.Integer)
    since: datetime = Field(sa_type=UTCDateTime)
    memory: dict[str, Any] = Field(sa_type=JSON_DOC)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class AlertTransitionRow(SQLModel, table=True):
    """The audit trail: every state change of every alert, with its reason."""

    __tablename__ = "alert_transition"
    __table_args__ = (
        sa.Index("ix_alert_transition_at", "at"),
        sa.Index("ix_alert_transition_fingerprint_at", "fingerprint", "at"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.Integer)
    fingerprint: str = Field(sa_type=_ID)
    grp: str = Field(sa_type=_ID)
    from_state: str | None = _text()
    to_state: str = Field(sa_type=_ID)
    at: datetime = Field(sa_type=UTCDateTime)
    episode: int = Field(default=0, sa_type=sa.Integer)
    reason: str = Field(sa_type=sa.Text)
    run_id: str | None = _text()


class AlertGroupRow(SQLModel, table=True):
    """What was last announced for a group of alerts (``rules.alerts``' ``NotifyLog``), and
    the outbox row of the episode's first message (its thread)."""

    __tablename__ = "alert_group"

    grp: str = Field(primary_key=True, sa_type=_ID)
    log: dict[str, Any] | None = _json()
    parent_outbox_id: int | None = Field(default=None, sa_type=sa.Integer)
    updated_at: datetime = Field(sa_type=UTCDateTime)


class SilenceRow(SQLModel, table=True):
    """A snooze: mutes the notices of one fingerprint (or a whole group) until ``ends_at``.
    Unsnoozing sets ``ends_at`` to then (expire now, as Alertmanager does)."""

    __tablename__ = "silence"

    id: str = Field(primary_key=True, sa_type=_ID)
    fingerprint: str | None = _text()
    grp: str | None = _text()
    starts_at: datetime = Field(sa_type=UTCDateTime)
    ends_at: datetime = Field(sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=sa.Text)
    created_by: str | None = _text()
    created_at: datetime = Field(sa_type=UTCDateTime)


OUTBOX_STATUSES = ("pending", "sending", "sent", "failed")


class OutboxRow(SQLModel, table=True):
    """A message to deliver, queued in the transaction that decided it.

    ``dedup_key`` is unique (``alert:<group>:<episode>:<kind>:<seq>``, ``digest:<ISO week>``):
    deciding the same thing twice (a crash, a second replica) queues it once. ``payload``
    holds the rendered message (channel, text, blocks, metadata), so a retry posts exactly
    what was decided. ``thread_of`` is the row whose message this one replies to,
    ``update_of`` the row whose message this one edits. A row left ``sending`` by a crash is
    reconciled against the channel's history before any re-send.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed')", name="ck_outbox_status"
        ),
        sa.Index("ix_outbox_status_id", "status", "id"),
    )

    id: int | None = Field(default=None, primary_key=True, sa_type=sa.Integer)
    dedup_key: str = Field(sa_type=_ID, unique=True)
    kind: str = Field(sa_type=_ID)
    channel: str | None = _text()
    payload: dict[str, Any] = Field(sa_type=JSON_DOC)
    thread_of: int | None = Field(default=None, sa_type=sa.Integer)
    update_of: int | None = Field(default=None, sa_type=sa.Integer)
    status: str = Field(default="pending", sa_type=_ID)
    attempts: int = Field(default=0, sa_type=sa.Integer)
    created_at: datetime = Field(sa_type=UTCDateTime)
    not_before: datetime | None = _when()
    sending_at: datetime | None = _when()
    sent_at: datetime | None = _when()
    channel_id: str | None = _text()
    ts: str | None = _text()
    error: str | None = Field(default=None, sa_type=sa.Text)


class OutboxFileRow(SQLModel, table=True):
    """A file (a chart) to upload in the thread of its outbox row's message."""

    __tablename__ = "outbox_file"

    outbox_id: int = Field(primary_key=True, sa_type=sa.Integer)
    name: str = Field(primary_key=True, sa_type=_ID)
    title: str | None = _text()
    content: bytes = Field(sa_type=sa.LargeBinary)
    file_id: str | None = _text()


class SlackUserRow(SQLModel, table=True):
    """E-mail -> Slack user, from ``users.lookupByEmail`` (``user_id`` NULL: not found)."""

    __tablename__ = "slack_user"

    email: str = Field(primary_key=True, sa_type=_ID)
    user_id: str | None = _text()
    looked_up_at: datetime = Field(sa_type=UTCDateTime)


class PipelineSnapshotRow(SQLModel, table=True):
    """The open pipeline as it stood on a day (kept weekly): amounts and close dates have no
    history in the CRM, so a week's pushed / pulled-in deals come from comparing two of these."""

    __tablename__ = "pipeline_snapshot"

    taken_on: date = Field(primary_key=True, sa_type=sa.Date)
    deal_id: str = Field(primary_key=True, sa_type=_ID)
    amount: float | None = Field(default=None, sa_type=MONEY)
    close_date: datetime | None = _when()
    stage_id: str | None = _text()
    pipeline_id: str | None = _text()
    owner_id: str | None = _text()
    taken_at: datetime = Field(sa_type=UTCDateTime)


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
alert = METADATA.tables["alert"]
alert_transition = METADATA.tables["alert_transition"]
alert_group = METADATA.tables["alert_group"]
silence = METADATA.tables["silence"]
outbox = METADATA.tables["outbox"]
outbox_file = METADATA.tables["outbox_file"]
slack_user = METADATA.tables["slack_user"]
pipeline_snapshot = METADATA.tables["pipeline_snapshot"]

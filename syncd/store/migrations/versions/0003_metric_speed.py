"""Faster metrics: what each deal's history and company links come to, kept on the deal, and
covering indexes for the metric queries.

* ``deal.last_visit_stage_id``, ``deal.last_visit_at``: the stage history entry entered last
  (ties: the greater stage id), NULL for a deal without history; ``deal.prev_visit_*``: the
  entry before it;
* ``deal.company_count``: the deal's links in ``deal_company``; ``deal.sole_company_id``: the
  company when there is exactly one.

All six are filled here from ``deal_stage_history`` and ``deal_company`` for the deals
already stored (``Store.write_page`` writes them from then on). ``ix_deal_current_stage``
replaces ``ix_deal_pipeline_id_stage_id`` (its first two columns); ``ix_deal_last_visit`` and
``ix_deal_last_visit_at`` are new. The indexes are created after the backfill, so it writes
no index entry twice. On PostgreSQL the deal table is analysed for the new columns.

Types spelled out as in 0001: datetimes are ``timestamptz`` on PostgreSQL and ``VARCHAR(32)``
UTC text on SQLite.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

#: SQLite: a deal's visit entered last (offset 0), or the one before it (1).
_visit = """
    SELECT visit.stage_id, visit.entered_at
    FROM deal_stage_history AS visit
    WHERE visit.deal_id = deal.id AND visit.entered_at IS NOT NULL
    ORDER BY visit.entered_at DESC, visit.stage_id DESC
    LIMIT 1 OFFSET {offset}
"""

_BACKFILL = {
    # Each child table read once, in one pass, for every deal at once; each deal written once.
    "postgresql": [
        """
        UPDATE deal
        SET last_visit_stage_id = summary.last_stage, last_visit_at = summary.last_at,
            prev_visit_stage_id = summary.prev_stage, prev_visit_at = summary.prev_at,
            company_count = coalesce(summary.n, 0),
            sole_company_id = CASE WHEN summary.n = 1 THEN summary.first END
        FROM (
            SELECT coalesce(visits.deal_id, link.deal_id) AS deal_id, visits.last_stage,
                   visits.last_at, visits.prev_stage, visits.prev_at, link.n, link.first
            FROM (
                SELECT deal_id,
                       max(CASE WHEN rank = 1 THEN stage_id END) AS last_stage,
                       max(CASE WHEN rank = 1 THEN entered_at END) AS last_at,
                       max(CASE WHEN rank = 2 THEN stage_id END) AS prev_stage,
                       max(CASE WHEN rank = 2 THEN entered_at END) AS prev_at
                FROM (
                    SELECT deal_id, stage_id, entered_at, row_number() OVER (
                        PARTITION BY deal_id ORDER BY entered_at DESC, stage_id DESC
                    ) AS rank
                    FROM deal_stage_history
                    WHERE entered_at IS NOT NULL
                ) AS ranked
                WHERE rank <= 2
                GROUP BY deal_id
            ) AS visits
            FULL JOIN (
                SELECT deal_id, count(*) AS n, min(company_id) AS first
                FROM deal_company GROUP BY deal_id
            ) AS link ON link.deal_id = visits.deal_id
        ) AS summary
        WHERE deal.id = summary.deal_id
        """,
        "ANALYZE deal",
    ],
    # Each deal's rows looked up by the child tables' primary keys, (deal_id, ...).
    "sqlite": [
        f"""
        UPDATE deal SET
            (last_visit_stage_id, last_visit_at) = ({_visit.format(offset=0)}),
            (prev_visit_stage_id, prev_visit_at) = ({_visit.format(offset=1)}),
            (company_count, sole_company_id) = (
                SELECT count(*), CASE WHEN count(*) = 1 THEN min(link.company_id) END
                FROM deal_company AS link
                WHERE link.deal_id = deal.id
            )
        """,
    ],
}

_CURRENT_STAGE = ["pipeline_id", "stage_id", "close_date", "created_at", "archived",
                  "archived_at", "amount", "mrr", "currency", "company_count",
                  "sole_company_id", "id"]
_LAST_VISIT = ["pipeline_id", "last_visit_stage_id", "last_visit_at", "created_at", "archived",
               "archived_at", "amount", "currency"]
_LAST_VISIT_AT = ["last_visit_at", "prev_visit_at", "prev_visit_stage_id", "pipeline_id",
                  "stage_id", "close_date", "created_at", "archived", "archived_at", "amount",
                  "currency", "id"]


def upgrade() -> None:
    when = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
    op.add_column("deal", sa.Column("last_visit_stage_id", sa.String(), nullable=True))
    op.add_column("deal", sa.Column("last_visit_at", when, nullable=True))
    op.add_column("deal", sa.Column("prev_visit_stage_id", sa.String(), nullable=True))
    op.add_column("deal", sa.Column("prev_visit_at", when, nullable=True))
    op.add_column("deal", sa.Column("company_count", sa.Integer(), nullable=False,
                                    server_default=sa.text("0")))
    op.add_column("deal", sa.Column("sole_company_id", sa.String(), nullable=True))
    for statement in _BACKFILL[op.get_bind().dialect.name]:
        op.execute(statement)
    op.drop_index("ix_deal_pipeline_id_stage_id", table_name="deal")
    op.create_index("ix_deal_current_stage", "deal", _CURRENT_STAGE)
    op.create_index("ix_deal_last_visit", "deal", _LAST_VISIT)
    op.create_index("ix_deal_last_visit_at", "deal", _LAST_VISIT_AT)


def downgrade() -> None:
    op.drop_index("ix_deal_last_visit_at", table_name="deal")
    op.drop_index("ix_deal_last_visit", table_name="deal")
    op.drop_index("ix_deal_current_stage", table_name="deal")
    op.create_index("ix_deal_pipeline_id_stage_id", "deal", ["pipeline_id", "stage_id"])
    with op.batch_alter_table("deal") as batch:
        for column in ("sole_company_id", "company_count", "prev_visit_at",
                       "prev_visit_stage_id", "last_visit_at", "last_visit_stage_id"):
            batch.drop_column(column)

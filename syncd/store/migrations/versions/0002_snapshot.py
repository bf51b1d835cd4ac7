"""Daily snapshots of every KR and alert metric (table ``snapshot``).

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str) -> sa.Column[object]:
    kind = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
    return sa.Column(name, kind, nullable=False)


def upgrade() -> None:
    json = sa.JSON(none_as_null=True).with_variant(
        postgresql.JSONB(none_as_null=True), "postgresql"
    )
    op.create_table(
        "snapshot",
        sa.Column("series", sa.String(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("definition", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("detail", json, nullable=True),
        _when("as_of"),
        sa.Column("live", sa.Boolean(), server_default=sa.false(), nullable=False),
        _when("computed_at"),
        sa.PrimaryKeyConstraint("series", "day"),
    )


def downgrade() -> None:
    op.drop_table("snapshot")

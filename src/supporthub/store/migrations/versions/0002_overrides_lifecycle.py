"""Operator overrides, and the lifecycle of aggregated cases (new, regressed).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BINARY: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}
_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    with op.batch_alter_table("aggregated_cases") as table:
        table.add_column(sa.Column("first_seen_at", _TIME, nullable=True))
        table.add_column(sa.Column("regressed_at", _TIME, nullable=True))
    # Aggregated cases that exist already were seen before any refresh to come.
    op.execute("UPDATE aggregated_cases SET first_seen_at = first_created_at")
    with op.batch_alter_table("aggregated_cases") as table:
        table.alter_column("first_seen_at", existing_type=_TIME, nullable=False)
    if op.get_bind().dialect.name == "sqlite":
        # SQLite's batch mode rebuilt the table from reflection, which does
        # not keep the DESC columns of the listing-order index.
        op.drop_index("ix_aggregated_order", table_name="aggregated_cases")
        op.create_index(
            "ix_aggregated_order",
            "aggregated_cases",
            [sa.text("is_open DESC"), sa.text("case_count DESC"), "id"],
        )
    op.create_table(
        "overrides",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("subject", sa.Text, nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("removed_at", _TIME),
        sa.Column("removed_by", sa.String(255)),
        **_BINARY,
    )


def downgrade() -> None:
    op.drop_table("overrides")
    with op.batch_alter_table("aggregated_cases") as table:
        table.drop_column("regressed_at")
        table.drop_column("first_seen_at")

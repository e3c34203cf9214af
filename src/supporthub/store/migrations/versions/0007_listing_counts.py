"""Listing totals shared by the hub's processes: ``listing_counts``.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_BINARY: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}
_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "listing_counts",
        sa.Column(
            "digest",
            sa.LargeBinary().with_variant(mysql.BINARY(32), "mysql", "mariadb"),
            primary_key=True,
        ),
        sa.Column("total", sa.BigInteger, nullable=False),
        sa.Column("counted_at", _TIME, nullable=False),
        **_BINARY,
    )
    op.create_index("ix_listing_counts_counted_at", "listing_counts", ["counted_at"])


def downgrade() -> None:
    op.drop_table("listing_counts")

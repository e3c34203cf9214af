"""Replies to every customer of an aggregated case, and their outbox.

Revision ID: 0005
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
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
        "replies",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("agg_id", sa.String(32), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("public", sa.Boolean, nullable=False),
        sa.Column("set_status", sa.String(16)),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("auto_reply", sa.Boolean, nullable=False),
        sa.Column("stopped_at", _TIME),
        sa.Column("stopped_by", sa.String(255)),
        **_BINARY,
    )
    op.create_index("ix_replies_agg", "replies", ["agg_id", "created_at"])
    op.create_table(
        "reply_deliveries",
        sa.Column("reply_id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("case_id", sa.String(255), primary_key=True),
        sa.Column("idempotency_key", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("lease_owner", sa.String(64)),
        sa.Column("lease_until", _TIME),
        sa.Column("delivered_at", _TIME),
        sa.Column("comment_id", sa.String(255)),
        **_BINARY,
    )
    op.create_index("ix_deliveries_due", "reply_deliveries", ["state", "source", "next_attempt_at"])


def downgrade() -> None:
    op.drop_table("reply_deliveries")
    op.drop_table("replies")

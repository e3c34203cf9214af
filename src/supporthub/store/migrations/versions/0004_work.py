"""Working an aggregated case (contract §7): its work and the history of it.

Revision ID: 0004
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_BINARY: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}
_TIME = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "aggregated_case_work",
        sa.Column("agg_id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(200)),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("tracker_url", sa.Text),
        sa.Column("note", sa.Text),
        sa.Column("updated_at", _TIME, nullable=False),
        **_BINARY,
    )
    op.create_index("ix_work_state_owner", "aggregated_case_work", ["state", "owner"])
    op.create_index("ix_work_owner", "aggregated_case_work", ["owner"])
    op.create_table(
        "aggregated_case_history",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("agg_id", sa.String(32), nullable=False),
        sa.Column("recorded_on", sa.String(32), nullable=False),
        sa.Column("at", _TIME, nullable=False),
        sa.Column("by", sa.String(255), nullable=False),
        sa.Column("changes", _LONG_TEXT, nullable=False),
        sa.Column("note", sa.Text),
        **_BINARY,
    )
    op.create_index("ix_history_agg", "aggregated_case_history", ["agg_id", "id"])
    op.create_index("ix_cases_agg_created", "cases", ["agg_id", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_cases_agg_created", table_name="cases")
    op.drop_table("aggregated_case_history")
    op.drop_table("aggregated_case_work")

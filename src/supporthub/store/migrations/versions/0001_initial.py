"""The first schema: cases, aggregated cases, spellings, sources, meta, refresh runs.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
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
        "cases",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        sa.Column("agg_id", sa.String(32), nullable=False),
        sa.Column("number", sa.Text),
        sa.Column("subject", _LONG_TEXT),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Text),
        sa.Column("provider", sa.String(255)),
        sa.Column("error_code", sa.String(255)),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.Column("url", sa.Text),
        **_BINARY,
    )
    op.create_index(
        "ix_cases_agg_updated", "cases", ["agg_id", "updated_at", "source", "source_id"]
    )
    op.create_table(
        "aggregated_cases",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("provider_key", sa.String(1024)),
        sa.Column("error_code_key", sa.String(1024)),
        sa.Column("key_extra", sa.Text),
        sa.Column("provider", sa.String(255)),
        sa.Column("is_open", sa.Boolean, nullable=False),
        sa.Column("case_count", sa.Integer, nullable=False),
        sa.Column("open_case_count", sa.Integer, nullable=False),
        sa.Column("first_created_at", _TIME, nullable=False),
        sa.Column("last_updated_at", _TIME, nullable=False),
        sa.Column("rules_version", sa.String(32), nullable=False),
        **_BINARY,
    )
    op.create_index(
        "ix_aggregated_order",
        "aggregated_cases",
        [sa.text("is_open DESC"), sa.text("case_count DESC"), "id"],
    )
    op.create_index(
        "ix_aggregated_provider_key", "aggregated_cases", ["provider_key"], mysql_length=255
    )
    op.create_index(
        "ix_aggregated_error_code_key", "aggregated_cases", ["error_code_key"], mysql_length=255
    )
    op.create_table(
        "provider_spellings",
        sa.Column("agg_id", sa.String(32), primary_key=True),
        sa.Column("spelling", sa.String(255), primary_key=True),
        sa.Column("count", sa.Integer, nullable=False),
        **_BINARY,
    )
    op.create_table(
        "sources",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("cursor", sa.Text),
        sa.Column("last_success_at", _TIME),
        sa.Column("last_attempt_at", _TIME),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        **_BINARY,
    )
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        **_BINARY,
    )
    op.create_table(
        "refresh_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("report", _LONG_TEXT, nullable=False),
        **_BINARY,
    )
    op.create_index("ix_refresh_runs_finished", "refresh_runs", ["finished_at"])
    # Signs the paging cursors, so every process on this database accepts
    # the cursors the others issued and rejects forged ones.
    op.bulk_insert(meta, [{"key": "cursor_secret", "value": secrets.token_hex(32)}])


def downgrade() -> None:
    for table in (
        "refresh_runs",
        "meta",
        "sources",
        "provider_spellings",
        "aggregated_cases",
        "cases",
    ):
        op.drop_table(table)

"""Listing totals shared by the hub's processes (``listing_counts``); grams of error codes.

The word index of ``q`` (``search_terms``) holds the error code keys as
their grams of one, two and three bytes (``kind = 'g'``) instead of whole
(``kind = 'c'``), so a code typed is found without a substring test of
every distinct code.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
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
    _index_code_grams(op.get_bind())


def _index_code_grams(connection: sa.Connection) -> None:
    """The error code keys stored before this revision, as grams (written out: see 0006)."""

    def grams(key: str) -> list[tuple[str, bytes]]:
        data = key.encode()
        found = {data[i : i + n] for n in (1, 2, 3) for i in range(len(data) - n + 1)}
        return [("g", gram) for gram in found]

    _index_codes(connection, grams)
    connection.exec_driver_sql("DELETE FROM search_terms WHERE kind = 'c'")


def _index_codes(
    connection: sa.Connection, terms: Callable[[str], list[tuple[str, bytes]]]
) -> None:
    """Add ``terms(key)`` rows to ``search_terms`` for every stored error code key."""
    if connection.dialect.name == "sqlite":
        sql = "INSERT OR IGNORE INTO search_terms (kind, term, digest, key) VALUES (?, ?, ?, ?)"
    else:
        sql = "INSERT IGNORE INTO search_terms (kind, term, digest, `key`) VALUES (%s, %s, %s, %s)"
    found = connection.exec_driver_sql(
        "SELECT DISTINCT error_code_key FROM aggregated_cases WHERE error_code_key IS NOT NULL"
    )
    while chunk := found.fetchmany(5000):
        rows = []
        for (key,) in chunk:
            digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
            rows += [(kind, term, digest, key) for kind, term in terms(key)]
        if rows:
            connection.exec_driver_sql(sql, rows)


def downgrade() -> None:
    # Revision 0006's index had every code whole: built again from the stored keys.
    op.execute("DELETE FROM search_terms WHERE kind = 'g'")
    _index_codes(op.get_bind(), lambda key: [("c", key.encode()[:64])])
    op.drop_table("listing_counts")

"""The word index of free text (``q``): ``search_terms``, built from the stored keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BINARY: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "search_terms",
        sa.Column("kind", sa.String(1), primary_key=True),
        sa.Column(
            "term",
            sa.LargeBinary().with_variant(mysql.VARBINARY(64), "mysql", "mariadb"),
            primary_key=True,
        ),
        sa.Column(
            "digest",
            sa.LargeBinary().with_variant(mysql.BINARY(16), "mysql", "mariadb"),
            primary_key=True,
        ),
        sa.Column("key", sa.String(1024), nullable=False),
        **_BINARY,
    )
    op.create_index(
        "ix_search_terms_key", "search_terms", ["kind", "key"], mysql_length={"key": 255}
    )
    # The keys stored before this revision, indexed in the same transaction
    # (on MariaDB the table's creation commits on its own; the rows do not).
    _index_stored_keys(op.get_bind())


def _index_stored_keys(connection: sa.Connection) -> None:
    """The index as this revision defines it: words of provider keys, whole code keys.

    Written out here, not imported: a later change of the store's index
    code (revision 0007 added grams) must not change what this one does.
    """
    if connection.dialect.name == "sqlite":
        sql = "INSERT OR IGNORE INTO search_terms (kind, term, digest, key) VALUES (?, ?, ?, ?)"
    else:
        sql = "INSERT IGNORE INTO search_terms (kind, term, digest, `key`) VALUES (%s, %s, %s, %s)"
    for column, kind in (("provider_key", "p"), ("error_code_key", "c")):
        found = connection.exec_driver_sql(
            f"SELECT DISTINCT {column} FROM aggregated_cases WHERE {column} IS NOT NULL"  # noqa: S608
        )
        while chunk := found.fetchmany(5000):
            rows = []
            for (key,) in chunk:
                if not key:
                    continue
                digest = hashlib.blake2b(key.encode(), digest_size=16).digest()
                words = key.split(" ") if kind == "p" else [key]
                terms = {word.encode()[:64] for word in words if word}
                rows += [(kind, term, digest, key) for term in terms]
            if rows:
                connection.exec_driver_sql(sql, rows)


def downgrade() -> None:
    op.drop_table("search_terms")

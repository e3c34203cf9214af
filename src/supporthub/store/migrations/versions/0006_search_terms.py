"""The word index of free text (``q``): ``search_terms``, built from the stored keys.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

from supporthub.store.search_terms import rebuild

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
    rebuild(op.get_bind())


def downgrade() -> None:
    op.drop_table("search_terms")

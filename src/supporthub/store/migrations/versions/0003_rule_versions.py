"""Named rule sets, and the ids a regroup retired (they answer 308 to their successor).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_BINARY: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


def upgrade() -> None:
    op.create_table(
        "retired_ids",
        sa.Column("old_id", sa.String(32), primary_key=True),
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("source_id", sa.String(255), primary_key=True),
        **_BINARY,
    )
    op.create_table(
        "rule_sets",
        sa.Column("version", sa.String(32), primary_key=True),
        sa.Column("default_rules", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        **_BINARY,
    )
    # Every release before this one grouped by default@1: a database that
    # holds cases says so, and `supporthub db upgrade` regroups it.
    bind = op.get_bind()
    meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
    stored = dict(bind.execute(sa.select(meta.c.key, meta.c.value)).all())
    has_cases = bind.execute(sa.text("SELECT 1 FROM cases LIMIT 1")).first() is not None
    if has_cases and "default_rules" not in stored:
        op.bulk_insert(meta, [{"key": "default_rules", "value": "default@1"}])
    if "rules_version" in stored:
        rule_sets = sa.table(
            "rule_sets",
            sa.column("version", sa.String),
            sa.column("default_rules", sa.String),
            sa.column("label", sa.Text),
        )
        op.bulk_insert(
            rule_sets,
            [
                {
                    "version": stored["rules_version"],
                    "default_rules": "default@1",
                    "label": "default@1, with the aliases and overrides of that time",
                }
            ],
        )


def downgrade() -> None:
    meta = sa.table("meta", sa.column("key", sa.String))
    op.execute(sa.delete(meta).where(meta.c.key == "default_rules"))
    op.drop_table("rule_sets")
    op.drop_table("retired_ids")

"""The tables, as SQLAlchemy Core metadata; Alembic migrations create them.

Every table uses ``utf8mb4_bin`` on MariaDB, so keys, ids and case ids
compare by code point: two keys that differ only in accents or case never
collide. Timestamps are stored as naive UTC (``DATETIME(6)`` on MariaDB) and
come back as aware UTC datetimes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

__all__ = [
    "aggregated_cases",
    "cases",
    "history",
    "listing_counts",
    "meta",
    "metadata",
    "overrides",
    "provider_spellings",
    "refresh_runs",
    "replies",
    "reply_deliveries",
    "retired_ids",
    "rule_sets",
    "search_terms",
    "sources",
    "work",
]

metadata = sa.MetaData()

_BINARY: dict[str, Any] = {
    "mysql_charset": "utf8mb4",
    "mysql_collate": "utf8mb4_bin",
    "mysql_engine": "InnoDB",
}


class UTCDateTime(sa.types.TypeDecorator[dt.datetime]):
    """An aware UTC datetime, stored naive in UTC with microseconds."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in {"mysql", "mariadb"}:
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: dt.datetime | None, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where aware UTC is required")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> dt.datetime | None:
        if value is None:
            return None
        assert isinstance(value, dt.datetime)
        return value.replace(tzinfo=dt.UTC)


# Subjects have no length limit in the CRM specs; TEXT stops at 64 kB on MariaDB.
_LONG_TEXT = sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")

cases = sa.Table(
    "cases",
    metadata,
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    sa.Column("agg_id", sa.String(32), nullable=False),
    sa.Column("number", sa.Text),
    sa.Column("subject", _LONG_TEXT),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("priority", sa.Text),
    sa.Column("provider", sa.String(255)),
    sa.Column("error_code", sa.String(255)),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("url", sa.Text),
    # Serves a case list most recently updated first, and an aggregated
    # case's last update, without touching the table.
    sa.Index("ix_cases_agg_updated", "agg_id", "updated_at", "source", "source_id"),
    # Counts an aggregated case's recent cases, and its cases per day, in the index.
    sa.Index("ix_cases_agg_created", "agg_id", "created_at"),
    **_BINARY,
)

aggregated_cases = sa.Table(
    "aggregated_cases",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("provider_key", sa.String(1024)),
    sa.Column("error_code_key", sa.String(1024)),
    sa.Column("key_extra", sa.Text),
    sa.Column("provider", sa.String(255)),
    sa.Column("is_open", sa.Boolean, nullable=False),
    sa.Column("case_count", sa.Integer, nullable=False),
    sa.Column("open_case_count", sa.Integer, nullable=False),
    sa.Column("first_created_at", UTCDateTime, nullable=False),
    sa.Column("last_updated_at", UTCDateTime, nullable=False),
    sa.Column("rules_version", sa.String(32), nullable=False),
    # Lifecycle: when the key was first seen (the refresh that created it),
    # and when it last went from closed to open (cleared when it closes).
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("regressed_at", UTCDateTime),
    # The listing order of the contract: open first, biggest first, then id.
    sa.Index("ix_aggregated_order", sa.desc("is_open"), sa.desc("case_count"), "id"),
    sa.Index("ix_aggregated_provider_key", "provider_key", mysql_length=255),
    sa.Index("ix_aggregated_error_code_key", "error_code_key", mysql_length=255),
    **_BINARY,
)

# The word index of free text (`q`, store/search_terms.py): each word of a
# stored provider key ('p'), and each stored error code key ('c'), as UTF-8
# bytes cut to 64, with the key it came from; one row per distinct
# (kind, term, key), found by the key's digest.
search_terms = sa.Table(
    "search_terms",
    metadata,
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
    # A listing that walks its order index asks, row by row, for the row's key.
    sa.Index("ix_search_terms_key", "kind", "key", mysql_length={"key": 255}),
    **_BINARY,
)

# Totals of listings, each counted once under a pair of data tokens and
# read by every hub process on the database (store/shared_counts.py).
listing_counts = sa.Table(
    "listing_counts",
    metadata,
    sa.Column(
        "digest",
        sa.LargeBinary().with_variant(mysql.BINARY(32), "mysql", "mariadb"),
        primary_key=True,
    ),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("counted_at", UTCDateTime, nullable=False),
    # Totals of tokens that went away are never read again: pruned by age.
    sa.Index("ix_listing_counts_counted_at", "counted_at"),
    **_BINARY,
)

# How often each trimmed provider spelling occurs among an aggregated case's
# members, kept up to date incrementally so the display name costs nothing.
provider_spellings = sa.Table(
    "provider_spellings",
    metadata,
    sa.Column("agg_id", sa.String(32), primary_key=True),
    sa.Column("spelling", sa.String(255), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    **_BINARY,
)

sources = sa.Table(
    "sources",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("last_success_at", UTCDateTime),
    sa.Column("last_attempt_at", UTCDateTime),
    sa.Column("consecutive_failures", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    **_BINARY,
)

meta = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    **_BINARY,
)

refresh_runs = sa.Table(
    "refresh_runs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("started_at", UTCDateTime, nullable=False),
    sa.Column("finished_at", UTCDateTime, nullable=False),
    sa.Column("trigger", sa.String(16), nullable=False),
    sa.Column("ok", sa.Boolean, nullable=False),
    sa.Column("report", _LONG_TEXT, nullable=False),
    sa.Index("ix_refresh_runs_finished", "finished_at"),
    **_BINARY,
)

# Operators' decisions about grouping: provider aliases, merges of two
# aggregated cases, a case moved out of one. Applied at every refresh; undo
# marks a row removed (who, when) instead of deleting it, so history stays.
overrides = sa.Table(
    "overrides",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("removed_at", UTCDateTime),
    sa.Column("removed_by", sa.String(255)),
    **_BINARY,
)

# An aggregated case id that a regroup (a new default rule set, changed
# aliases, an override) emptied, with the cases it held then: the cases
# table says where they are now, so the old id leads to the aggregated case
# that holds most of them, through any chain of later regroups.
retired_ids = sa.Table(
    "retired_ids",
    metadata,
    sa.Column("old_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("source_id", sa.String(255), primary_key=True),
    **_BINARY,
)

# Every rule-set version (the ``rules_version`` hash an aggregated case
# records) in words: the default rule set and the further rules.
rule_sets = sa.Table(
    "rule_sets",
    metadata,
    sa.Column("version", sa.String(32), primary_key=True),
    sa.Column("default_rules", sa.String(64), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    **_BINARY,
)

# The work on an aggregated case (contract §7), by aggregated case id. Apart
# from `aggregated_cases`, which refreshes rewrite and delete, so a refresh
# never clobbers it and an id that comes back finds its work again.
work = sa.Table(
    "aggregated_case_work",
    metadata,
    sa.Column("agg_id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200)),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("tracker_url", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    # The triage filters (state, owner) read the index, not the table.
    sa.Index("ix_work_state_owner", "state", "owner"),
    sa.Index("ix_work_owner", "owner"),
    **_BINARY,
)

# Every change of the work, newest last by id. `agg_id` is the aggregated
# case whose history lists it (it follows merges); `recorded_on` the one it
# was made on. `changes` is a JSON list of {field, from, to}.
history = sa.Table(
    "aggregated_case_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("agg_id", sa.String(32), nullable=False),
    sa.Column("recorded_on", sa.String(32), nullable=False),
    sa.Column("at", UTCDateTime, nullable=False),
    sa.Column("by", sa.String(255), nullable=False),
    sa.Column("changes", _LONG_TEXT, nullable=False),
    sa.Column("note", sa.Text),
    sa.Index("ix_history_agg", "agg_id", "id"),
    **_BINARY,
)

# Replies to every customer of an aggregated case (contract §7): the reply,
# and its outbox: one delivery row per target case, written in the same
# transaction, sent by whichever deliverer holds its lease.
replies = sa.Table(
    "replies",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("agg_id", sa.String(32), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("created_by", sa.String(255), nullable=False),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("public", sa.Boolean, nullable=False),
    sa.Column("set_status", sa.String(16)),
    sa.Column("scope", sa.String(8), nullable=False),
    sa.Column("auto_reply", sa.Boolean, nullable=False),
    sa.Column("stopped_at", UTCDateTime),
    sa.Column("stopped_by", sa.String(255)),
    sa.Index("ix_replies_agg", "agg_id", "created_at"),
    **_BINARY,
)

reply_deliveries = sa.Table(
    "reply_deliveries",
    metadata,
    sa.Column("reply_id", sa.String(32), primary_key=True),
    sa.Column("source", sa.String(64), primary_key=True),
    sa.Column("case_id", sa.String(255), primary_key=True),
    # The same on every attempt, so the CRM makes one comment however often it is sent.
    sa.Column("idempotency_key", sa.String(64), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("next_attempt_at", UTCDateTime, nullable=False),
    sa.Column("lease_owner", sa.String(64)),
    sa.Column("lease_until", UTCDateTime),
    sa.Column("delivered_at", UTCDateTime),
    sa.Column("comment_id", sa.String(255)),
    # What a deliverer looks for: the due pending rows of one source.
    sa.Index("ix_deliveries_due", "state", "source", "next_attempt_at"),
    **_BINARY,
)

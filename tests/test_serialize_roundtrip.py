"""Issue 12 part 1: one structure/unstructure path.

The refresh reports (and source states, health) read back through the same
cattrs converter that writes the contract's JSON: one set of renames, both ways.
"""

from __future__ import annotations

import datetime as dt

import orjson
from hypothesis import given
from hypothesis import strategies as st

from supporthub.ingest.refresh import report_from_json
from supporthub.serialize import from_json_dict, to_json_dict
from supporthub.vocabulary.models import (
    Health,
    RefreshReport,
    SourceHealth,
    SourceReport,
    SourceState,
    Trigger,
)

_moments = st.datetimes(
    min_value=dt.datetime(1970, 1, 2), max_value=dt.datetime(9999, 1, 1), timezones=st.just(dt.UTC)
)
_text = st.text(max_size=30)
_count = st.integers(min_value=0, max_value=2**53)
_source_reports = st.builds(
    SourceReport,
    ok=st.booleans(),
    due=st.booleans(),
    fetched=_count,
    skipped=_count,
    written=_count,
    deleted=_count,
    duration_seconds=st.none() | st.floats(min_value=0, max_value=1e9, allow_nan=False),
    error=st.none() | _text,
)
_reports = st.builds(
    RefreshReport,
    started_at=_moments,
    finished_at=_moments,
    refreshed_at=st.none() | _moments,
    trigger=st.sampled_from(Trigger),
    full=st.booleans(),
    sources=st.dictionaries(_text, _source_reports, max_size=3),
)
_states = st.builds(
    SourceState,
    name=_text,
    cursor=st.none() | _text,
    last_success_at=st.none() | _moments,
    last_attempt_at=st.none() | _moments,
    consecutive_failures=_count,
    last_error=st.none() | _text,
)
_source_health = st.builds(
    SourceHealth,
    enabled=st.booleans(),
    last_success_at=st.none() | _moments,
    last_attempt_at=st.none() | _moments,
    last_error=st.none() | _text,
    consecutive_failures=_count,
    refreshable_at=st.none() | _moments,
)
_health = st.builds(
    Health,
    database=st.sampled_from(["ok", "unavailable"]),
    refreshing=st.booleans(),
    min_refresh_age_seconds=st.floats(min_value=0, max_value=1e9),
    refresh_interval_seconds=st.floats(min_value=0, max_value=1e9),
    refreshed_at=st.none() | _moments,
    sources=st.dictionaries(_text, _source_health, max_size=3),
)


@given(_reports)
def test_a_refresh_report_reads_back_through_the_converter(report: RefreshReport) -> None:
    stored = orjson.loads(orjson.dumps(to_json_dict(report)))
    assert report_from_json(stored) == report
    assert from_json_dict(stored, RefreshReport) == report


@given(st.one_of(_states, _health))
def test_states_and_health_read_back(value: SourceState | Health) -> None:
    assert from_json_dict(orjson.loads(orjson.dumps(to_json_dict(value))), type(value)) == value


def test_a_report_stored_by_an_older_hub_still_reads() -> None:
    old = {
        "startedAt": "2026-11-20T10:00:00Z",
        "finishedAt": "2026-11-20T10:00:01.5Z",
        "trigger": "scheduled",
        "ok": True,
        "sources": {"banana": {"ok": True, "fetched": 3}},
    }
    report = report_from_json(old)
    assert report.finished_at == dt.datetime(2026, 11, 20, 10, 0, 1, 500000, tzinfo=dt.UTC)
    assert report.refreshed_at is None and not report.full
    assert report.sources["banana"] == SourceReport(ok=True, fetched=3)

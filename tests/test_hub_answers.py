"""What the library gives the service: paging, one aggregated case as JSON, counts, logs."""

from __future__ import annotations

import io
import json
import logging

import orjson
import pytest

import supporthub
from supporthub import InvalidQuery, NotFound, Status
from supporthub.vocabulary.log_setup import JsonFormatter, configure_logging
from supporthub.vocabulary.redact import RedactingFilter, register_secrets


def fill(fake_crm, groups: int = 9) -> None:
    for n in range(groups):
        for member in range(n % 4 + 1):
            fake_crm.put(f"{n}-{member}", provider=f"P{n}", error_code="1", status=(
                "open" if n % 3 else "closed"
            ))  # fmt: skip


def test_a_paging_walk_returns_every_aggregated_case_once(make_hub, fake_crm) -> None:
    fill(fake_crm)
    hub = make_hub()
    hub.refresh(force=True)
    everything = [a.id for a in hub.all().aggregated_cases]
    for limit in (1, 2, 5):
        walked, cursor = [], None
        while True:
            page = hub.all(limit=limit, cursor=cursor)
            walked += [a.id for a in page.aggregated_cases]
            if (cursor := page.next_cursor) is None:
                break
        assert walked == everything
    open_only = [a.id for a in hub.search(status="open").aggregated_cases]
    first = hub.search(status="open", limit=2)
    rest = hub.search(status="open", cursor=first.next_cursor)
    assert [a.id for a in first.aggregated_cases + rest.aggregated_cases] == open_only


def test_a_cursor_must_be_exactly_what_the_hub_wrote(make_hub, fake_crm) -> None:
    fill(fake_crm)
    hub = make_hub()
    hub.refresh(force=True)
    cursor = hub.all(limit=1).next_cursor
    assert cursor is not None
    body, _, signature = cursor.partition(".")
    # The last base64 character of the 16-byte signature carries 2 spare bits.
    spare = {"A": "B", "Q": "R", "g": "h", "w": "x"}.get(signature[-1], "B")
    for forged in (
        f"{body}.{signature[:-1]}{spare}",
        f"{body}!.{signature}",
        f"{body}.{signature}=",
        f" {cursor}",
    ):
        with pytest.raises(InvalidQuery, match="cursor"):
            hub.all(cursor=forged)
    assert hub.all(cursor=cursor).aggregated_cases


def test_one_aggregated_case_streams_as_the_contract_json(make_hub, fake_crm) -> None:
    fill(fake_crm)
    hub = make_hub()
    hub.refresh(force=True)
    for aggregated in hub.all().aggregated_cases:
        streamed = b"".join(hub.iter_aggregated_case_json(aggregated.id))
        assert orjson.loads(streamed) == supporthub.to_json_dict(hub.get(aggregated.id))
    chunks = hub.iter_aggregated_case_json("0" * 32)
    with pytest.raises(NotFound):
        next(chunks)


def test_a_big_aggregated_case_streams_in_several_chunks(make_hub, fake_crm) -> None:
    for n in range(600):
        fake_crm.records[str(n)] = {
            "id": str(n), "provider": "Acme", "error_code": "1", "status": "open",
            "subject": "x" * 200, "updated_at": f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}Z",
        }  # fmt: skip
    fake_crm.save()
    hub = make_hub()
    hub.refresh(force=True)
    (aggregated,) = hub.all(cases_limit=0).aggregated_cases
    chunks = list(hub.iter_aggregated_case_json(aggregated.id))
    assert len(chunks) > 1
    assert len(orjson.loads(b"".join(chunks))["cases"]) == 600


def test_counts_tell_cases_per_source_and_aggregated_cases_per_status(make_hub, fake_crm) -> None:
    hub = make_hub()
    assert hub.counts() == supporthub.Counts({}, 0, 0)
    fill(fake_crm)
    hub.refresh(force=True)
    counts = hub.counts()
    listed = hub.all().aggregated_cases
    assert counts.cases == {"fake": sum(a.case_count for a in listed)}
    assert counts.open_aggregated_cases == sum(a.status is Status.OPEN for a in listed)
    assert counts.closed_aggregated_cases == sum(a.status is Status.CLOSED for a in listed)


def test_the_log_format_is_read_from_the_environment() -> None:
    assert supporthub.Settings.from_env({}).log_format == "text"
    assert supporthub.Settings.from_env({"SUPPORTHUB_LOG_FORMAT": "JSON"}).log_format == "json"
    with pytest.raises(supporthub.ConfigurationError, match="SUPPORTHUB_LOG_FORMAT"):
        supporthub.Settings.from_env({"SUPPORTHUB_LOG_FORMAT": "xml"})
    names = {variable.name for variable in supporthub.ENVIRONMENT_VARIABLES}
    assert "SUPPORTHUB_LOG_FORMAT" in names


def test_json_log_lines_carry_the_extra_fields_redacted() -> None:
    register_secrets(["json-log-secret-42"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("supporthub.test.json")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "refresh of %s with json-log-secret-42",
            "fake",
            extra={"event": "refresh", "report": {"token": "json-log-secret-42", "n": 1}},
        )
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    line = stream.getvalue()
    assert "json-log-secret-42" not in line
    entry = json.loads(line)
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "supporthub.test.json"
    assert entry["message"] == "refresh of fake with ***"
    assert entry["event"] == "refresh"
    assert entry["report"] == {"token": "***", "n": 1}
    assert entry["time"].endswith("Z")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_every_configured_handler_redacts(log_format) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", log_format)
        assert root.handlers
        for handler in root.handlers:
            assert any(isinstance(f, RedactingFilter) for f in handler.filters)
        expected = JsonFormatter if log_format == "json" else logging.Formatter
        assert type(root.handlers[0].formatter) is expected
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)

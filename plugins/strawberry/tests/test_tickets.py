"""What one ticket becomes, without HTTP: the reader's rules, and its two paths agreeing."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from supporthub_strawberry.adapter import TICKET, custom_fields

from supporthub import (
    Case,
    CustomFields,
    MalformedPage,
    MalformedRecord,
    SourceError,
    Status,
    Tombstone,
)

PROVIDER, ERROR_CODE, REGION = 48_110_237, 48_110_238, 7_700
#: What the adapter reads tickets with: source, ticket URL base, the custom field reader.
CONTEXT = (
    "strawberry",
    "https://acme.strawberry.example/x/agent/tickets/",
    CustomFields((PROVIDER, ERROR_CODE), ("provider", "error_code")),
)


def ticket(**changes: Any) -> dict[str, Any]:
    """The spec's example ticket, with the account's field ids."""
    base: dict[str, Any] = {
        "id": 48213,
        "subject": "Payment failed (1042)",
        "description": "Hi, my card …",
        "status": "open",
        "priority": "high",
        "created_at": "2026-11-20T09:58:31Z",
        "updated_at": "2026-11-20T10:02:11Z",
        "custom_fields": [
            {"id": PROVIDER, "value": "ACME PAYMENTS"},
            {"id": ERROR_CODE, "value": " 1042 "},
            {"id": REGION, "value": "emea"},
        ],
        "tags": ["payments", "card"],
        "requester": {"name": "Jane Roe", "email": "jane@example.com"},
    }
    base.update(changes)
    return base


def read_both(record: Any) -> Case | Tombstone:
    """Read with both paths; they must agree, on the record and on refusing it."""
    try:
        slow = TICKET.read(copy.deepcopy(record), CONTEXT)
    except MalformedRecord:
        with pytest.raises(MalformedRecord):
            TICKET.read_one(record, CONTEXT)
        raise
    assert TICKET.read_one(record, CONTEXT) == slow
    return slow


def test_the_spec_example() -> None:
    assert read_both(ticket()) == Case(
        source="strawberry",
        source_id="48213",
        number="48213",
        subject="Payment failed (1042)",
        status=Status.OPEN,
        priority="high",
        provider="ACME PAYMENTS",
        error_code=" 1042 ",
        created_at=dt.datetime(2026, 11, 20, 9, 58, 31, tzinfo=dt.UTC),
        updated_at=dt.datetime(2026, 11, 20, 10, 2, 11, tzinfo=dt.UTC),
        url="https://acme.strawberry.example/x/agent/tickets/48213",
    )


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("new", Status.OPEN),
        ("open", Status.OPEN),
        ("pending", Status.OPEN),
        ("hold", Status.OPEN),
        ("solved", Status.CLOSED),
        ("closed", Status.CLOSED),
    ],
)
def test_statuses(status: str, expected: Status) -> None:
    record = read_both(ticket(status=status))
    assert isinstance(record, Case) and record.status is expected


def test_deleted_is_a_tombstone_even_when_the_rest_is_odd() -> None:
    deleted = ticket(status="deleted", subject=5, created_at=None, custom_fields="?")
    assert read_both(deleted) == Tombstone(
        "48213", dt.datetime(2026, 11, 20, 10, 2, 11, tzinfo=dt.UTC)
    )


@pytest.mark.parametrize(
    ("changes", "value"),
    [
        ({"custom_fields": []}, (None, None)),
        ({"custom_fields": None}, (None, None)),
        ({"custom_fields": [{"id": PROVIDER, "value": None}]}, (None, None)),
        ({"custom_fields": [{"id": PROVIDER}]}, (None, None)),
        ({"custom_fields": [{"id": ERROR_CODE, "value": "E"}, {"value": "x"}]}, (None, "E")),
        ({"custom_fields": [{"id": str(PROVIDER), "value": "by title?"}]}, (None, None)),
        ({"custom_fields": [{"id": REGION, "value": {"any": "type"}}]}, (None, None)),
        (
            {"custom_fields": [{"id": PROVIDER, "value": "A"}, {"id": PROVIDER, "value": "B"}]},
            ("B", None),
        ),
        ({"custom_fields": [{"id": PROVIDER, "value": "p" * 255}]}, ("p" * 255, None)),
    ],
)
def test_custom_field_values(changes: dict[str, Any], value: tuple[Any, Any]) -> None:
    record = read_both(ticket(**changes))
    assert isinstance(record, Case)
    assert (record.provider, record.error_code) == value


def test_missing_optional_fields_and_unknown_extras() -> None:
    record = ticket(via={"channel": "web"}, brand_id=7)
    for field in ("subject", "description", "priority", "tags", "requester", "custom_fields"):
        del record[field]
    case = read_both(record)
    assert isinstance(case, Case)
    assert (case.subject, case.priority, case.provider) == (None, None, None)


@pytest.mark.parametrize(
    ("created_at", "expected"),
    [
        ("2026-11-20T11:58:31+02:00", dt.datetime(2026, 11, 20, 9, 58, 31, tzinfo=dt.UTC)),
        ("2026-11-20T09:58:31.250Z", dt.datetime(2026, 11, 20, 9, 58, 31, 250_000, dt.UTC)),
    ],
)
def test_other_iso_timestamps_are_read_too(created_at: str, expected: dt.datetime) -> None:
    case = read_both(ticket(created_at=created_at))
    assert isinstance(case, Case) and case.created_at == expected


@pytest.mark.parametrize(
    ("record", "words"),
    [
        (["not", "an", "object"], "the ticket is not an object"),
        ({k: v for k, v in ticket().items() if k != "id"}, "id is missing"),
        (ticket(id="48213"), "id is not an integer"),
        (ticket(id=True), "id is not an integer"),
        (ticket(id=4.5), "id is not an integer"),
        (
            ticket(status="escalated"),
            "status 'escalated' is not one of new, open, pending, hold, solved, closed",
        ),
        (ticket(status=None), "status is null, expected a string"),
        (ticket(subject=12345), "subject is a number, expected a string"),
        (ticket(priority=["high"]), "priority is a list, expected a string"),
        (ticket(description={}), "description is an object, expected a string"),
        (ticket(tags="vip"), "tags is not a list of strings"),
        (ticket(tags=["vip", 3]), "tags is not a list of strings"),
        (
            ticket(requester="Jane Roe <jane@example.com>"),
            "requester is not an object or null",
        ),
        (ticket(updated_at="yesterday, about noon"), "updated_at is not an ISO 8601 timestamp"),
        (ticket(created_at="2026-13-01T00:00:00Z"), "created_at is not a valid date and time"),
        (ticket(created_at=1732096800), "created_at is a number, expected a timestamp"),
        (ticket(custom_fields="provider=Acme"), "custom_fields is not a list"),
        (
            ticket(custom_fields=[[PROVIDER, "Acme"]]),
            "custom_fields holds an entry that is not an object",
        ),
        (
            ticket(custom_fields=[{"id": PROVIDER, "value": 7}]),
            "provider is a number, expected a string",
        ),
        (
            ticket(custom_fields=[{"id": ERROR_CODE, "value": "9" * 256}]),
            "error_code is longer than 255 characters",
        ),
    ],
)
def test_malformed_tickets_say_why_without_content(record: Any, words: str) -> None:
    with pytest.raises(MalformedRecord) as raised:
        read_both(record)
    assert words in str(raised.value)
    assert "Jane" not in str(raised.value) and "jane@" not in str(raised.value)


# Near misses of the ``...Z`` form that datetime.fromisoformat reads but the
# spec (and the core's reader) does not, and the reverse.
NEAR_MISSES = [
    "2026-11-20T10:02:11Z",
    "2026-11-20 10:02:11Z",
    "2026-11-20t10:02:11Z",
    "2026-W47-5T10:02:11Z",
    "2026-11-20T100211.5Z",
    "2026-11-20T100211,5Z",
    "20261120T100211Z",
    "2026-11-20T10:02:11z",
    "2026-11-20T10:02:11",
    "2026-11-20T10:02:11+00:00",
    "2026-11-20T10:02:11.5Z",
    "2026-02-30T10:02:11Z",
    "2026-11-20T24:00:00Z",
    "２０２６-11-20T10:02:11Z",
    "2026-11-20T10:02:1１Z",
    " 2026-11-20T10:02:11Z",
]


@pytest.mark.parametrize("field", ["created_at", "updated_at"])
@pytest.mark.parametrize("value", NEAR_MISSES)
def test_both_paths_read_timestamps_alike(field: str, value: str) -> None:
    with contextlib.suppress(MalformedRecord):
        read_both(ticket(**{field: value}))


# Timestamps: valid ones in several forms, near misses, and the layout fuzzed.
timestamps = st.one_of(
    st.datetimes(min_value=dt.datetime(1970, 1, 1), timezones=st.sampled_from([dt.UTC, None])).map(
        lambda moment: moment.isoformat().replace("+00:00", "Z")
    ),
    st.datetimes(min_value=dt.datetime(1970, 1, 1)).map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ")),
    st.sampled_from(NEAR_MISSES),
    st.from_regex(r"\A[0-9W+ -]{4,10}[T ][0-9:.,]{4,12}(Z|[+-][0-9]{2}:?[0-9]{2})?\Z"),
)
# Values of every JSON type, the awkward ones included.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
    | st.sampled_from(["open", "deleted", "solved", "p" * 256])
    | timestamps,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
fields = st.sampled_from(
    [
        "id",
        "status",
        "subject",
        "priority",
        "description",
        "created_at",
        "updated_at",
        "custom_fields",
        "tags",
        "requester",
    ]
)
DROP = object()
entries = st.fixed_dictionaries(
    {"id": st.sampled_from([PROVIDER, ERROR_CODE, REGION, True, str(PROVIDER)])},
    optional={"value": json_values},
)


# One change to the valid example ticket: near-valid tickets are where two
# readers could disagree.
changes = st.one_of(
    st.tuples(st.sampled_from(["created_at", "updated_at"]), timestamps),
    st.tuples(fields, json_values),
    st.tuples(fields, st.just(DROP)),
    st.tuples(st.just("custom_fields"), st.lists(entries | json_values, max_size=4)),
)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(changes, max_size=2))
def test_the_fast_path_means_what_the_reference_means(changed: list[tuple[str, Any]]) -> None:
    record = ticket()
    for field, value in changed:
        if value is DROP:
            record.pop(field, None)
        else:
            record[field] = value
    with contextlib.suppress(MalformedRecord):  # refused by both: agreement too
        read_both(record)


# -- field ids -------------------------------------------------------------------------


def test_field_ids_are_matched_by_key() -> None:
    answer = {
        "ticket_fields": [
            {"id": 9, "key": "region", "title": "Provider", "type": "dropdown"},
            {"id": 31, "key": "error_code", "title": "Code", "type": "text"},
            {"id": 30, "key": "provider", "title": "Vendor", "type": "text"},
            "junk",
        ]
    }
    assert custom_fields(answer).ids == (30, 31)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        (
            [{"id": 1, "key": "provider"}],
            "no ticket field has the key 'error_code' (its keys: provider)",
        ),
        (
            [{"id": 1, "key": "error_code"}, {"id": 2, "title": "provider"}],
            "no ticket field has the key 'provider'",
        ),
        (
            [
                {"id": 1, "key": "provider"},
                {"id": 2, "key": "provider"},
                {"id": 3, "key": "error_code"},
            ],
            "2 ticket fields have the key 'provider'",
        ),
        ([{"id": 1, "key": "provider"}, {"id": 1, "key": "error_code"}], "have the same id"),
    ],
)
def test_a_misconfigured_account_is_refused(fields: list[Any], words: str) -> None:
    with pytest.raises(SourceError, match="misconfigured") as raised:
        custom_fields({"ticket_fields": fields})
    assert words in str(raised.value)


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"fields": []},
        {"ticket_fields": {}},
        {"ticket_fields": [{"id": "1", "key": "provider"}, {"id": 2, "key": "error_code"}]},
    ],
)
def test_a_field_list_of_the_wrong_shape_is_a_malformed_page(answer: Any) -> None:
    with pytest.raises(MalformedPage):
        custom_fields(answer)

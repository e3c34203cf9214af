"""Reading Banana records and the cursor, mostly without HTTP: every rule, quickly."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from supporthub_banana.adapter import CASES_PATH, RECORD, format_cursor, parse_cursor
from supporthub_banana.simulator import BananaSimulator

from supporthub import Case, DecodedPage, MalformedRecord, Status, Tombstone

URL = "https://banana.example/tenant/ui/cases/"


def read_record(record: Any, source: str, case_url: str) -> Case | Tombstone:
    """One decoded record, checked field by field (the fallback path)."""
    return RECORD.read(record, (source, case_url))


def read_typed(records: Sequence[Any], source: str, case_url: str) -> Any:
    """Typed records as cases and tombstones; ``None`` when one needs a closer look."""
    return RECORD.read_typed(list(records), (source, case_url))


def _decode_typed(body: bytes) -> DecodedPage | None:
    return page if (page := RECORD.decode(body, "Banana", CASES_PATH)).typed else None


def record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "Id": "5003000000D8cuIAAR",
        "CaseNumber": "00001026",
        "Subject": "Card payments declined with E-1042",
        "Description": "Customer reports …",
        "Status": "Working",
        "IsClosed": False,
        "IsDeleted": False,
        "Priority": "High",
        "Origin": "Email",
        "Provider__c": "Acme Payments, Inc.",
        "Error_Code__c": "E-1042",
        "ContactEmail": "jane@example.com",
        "CreatedDate": "2026-11-20T09:58:31.000+0000",
        "LastModifiedDate": "2026-11-20T10:02:11.000+0000",
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not ...}


def test_the_spec_example_becomes_this_case() -> None:
    assert read_record(record(), "banana", URL) == Case(
        source="banana",
        source_id="5003000000D8cuIAAR",
        number="00001026",
        subject="Card payments declined with E-1042",
        status=Status.OPEN,
        priority="High",
        provider="Acme Payments, Inc.",
        error_code="E-1042",
        created_at=datetime(2026, 11, 20, 9, 58, 31, tzinfo=UTC),
        updated_at=datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC),
        url=URL + "5003000000D8cuIAAR",
    )


def test_the_contact_email_goes_nowhere() -> None:
    case = read_record(record(), "banana", URL)
    assert "jane@example.com" not in repr(case)


@pytest.mark.parametrize(
    ("status", "is_closed", "expected"),
    [
        ("Closed", True, Status.CLOSED),
        ("Closed", False, Status.OPEN),
        ("New", True, Status.CLOSED),
        ("Waiting on Provider", False, Status.OPEN),
        ("Closed – Duplicate", True, Status.CLOSED),
    ],
)
def test_is_closed_decides(status: str, is_closed: bool, expected: Status) -> None:
    case = read_record(record(Status=status, IsClosed=is_closed), "banana", URL)
    assert isinstance(case, Case)
    assert case.status is expected


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-11-20T12:02:11.000+0200", datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)),
        ("2026-11-20T05:02:11.123-0500", datetime(2026, 11, 20, 10, 2, 11, 123000, tzinfo=UTC)),
        ("2026-11-20T15:32:11.000+05:30", datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)),
        ("2026-11-20T10:02:11Z", datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)),
        ("2026-11-21T00:02:11.000+1400", datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)),
        ("2026-11-20T10:02:11.1234567+0000", datetime(2026, 11, 20, 10, 2, 11, 123456, tzinfo=UTC)),
    ],
)
def test_any_numeric_offset_is_the_same_instant_in_utc(text: str, utc: datetime) -> None:
    case = read_record(record(LastModifiedDate=text, CreatedDate=text), "banana", URL)
    assert isinstance(case, Case)
    assert case.updated_at == case.created_at == utc
    assert case.updated_at.tzinfo is UTC


def test_a_deleted_record_is_a_tombstone_whatever_else_it_says() -> None:
    tombstone = read_record(
        {
            "Id": "5003000000D8cuIAAR",
            "IsDeleted": True,
            "LastModifiedDate": "2026-11-20T10:02:11.000+0000",
            "IsClosed": "?",
        },
        "banana",
        URL,
    )
    assert tombstone == Tombstone(
        "5003000000D8cuIAAR", datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)
    )


def test_optional_fields_may_be_null_or_absent_and_extras_are_ignored() -> None:
    fields = (
        "Subject",
        "Description",
        "Priority",
        "Origin",
        "Provider__c",
        "Error_Code__c",
        "ContactEmail",
    )
    nulls = read_record(record(**dict.fromkeys(fields)), "banana", URL)
    absent = read_record(record(**dict.fromkeys(fields, ...), IsDeleted=...), "banana", URL)
    extra = read_record(
        record(**dict.fromkeys(fields), attributes={"type": "Case"}, Region__c="EMEA"),
        "banana",
        URL,
    )
    assert nulls == absent == extra
    assert isinstance(nulls, Case)
    assert (nulls.subject, nulls.priority, nulls.provider, nulls.error_code) == (None,) * 4


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"Id": ...}, "Id is null"),
        ({"Id": None}, "Id is null"),
        ({"Id": ""}, "Id is empty"),
        ({"Id": "   "}, "Id is empty"),
        ({"Id": 5003}, "Id is a number"),
        ({"Id": True}, "Id is a boolean"),
        ({"Id": "x" * 256}, "Id is longer than 255"),
        ({"IsClosed": "false"}, "IsClosed is a string, expected a boolean"),
        ({"IsClosed": ...}, "IsClosed is null"),
        ({"IsClosed": 0}, "IsClosed is a number"),
        ({"IsDeleted": "false"}, "IsDeleted is a string"),
        ({"IsDeleted": None}, "IsDeleted is null"),
        ({"CaseNumber": 1026}, "CaseNumber is a number"),
        ({"CaseNumber": None}, "CaseNumber is null"),
        ({"Status": None}, "Status is null"),
        ({"Status": ["Working"]}, "Status is a list"),
        ({"Subject": 42}, "Subject is a number"),
        ({"Description": {"text": "…"}}, "Description is an object"),
        ({"Priority": True}, "Priority is a boolean"),
        ({"Origin": 1}, "Origin is a number"),
        ({"ContactEmail": ["jane@example.com"]}, "ContactEmail is a list"),
        ({"Provider__c": 42}, "Provider__c is a number"),
        ({"Provider__c": "P" * 256}, "Provider__c is longer than 255"),
        ({"Error_Code__c": "E-" + "9" * 254}, "Error_Code__c is longer than 255"),
        ({"CreatedDate": 1763632931000}, "CreatedDate is a number"),
        ({"CreatedDate": ...}, "CreatedDate is null"),
        ({"LastModifiedDate": "20/11/2026 10:02"}, "LastModifiedDate is not an ISO 8601"),
        ({"LastModifiedDate": "2026-11-20T10:02:11.000"}, "LastModifiedDate is not an ISO 8601"),
        ({"LastModifiedDate": "2026-11-20"}, "LastModifiedDate is not an ISO 8601"),
        ({"LastModifiedDate": "2026-02-30T10:02:11.000+0000"}, "not a valid date"),
        ({"LastModifiedDate": "2026-11-20T25:02:11.000+0000"}, "not a valid date"),
    ],
)
def test_malformed_records_are_refused_naming_the_field(
    changes: dict[str, Any], reason: str
) -> None:
    with pytest.raises(MalformedRecord, match=reason) as raised:
        read_record(record(**changes), "banana", URL)
    assert "jane@example.com" not in str(raised.value)


def test_a_record_that_is_not_an_object_is_malformed() -> None:
    for value in (None, "5003000000D8cuIAAR", 42, ["Id"]):
        with pytest.raises(MalformedRecord, match="not a JSON object"):
            read_record(value, "banana", URL)


def test_a_deleted_record_still_needs_an_id_and_a_time() -> None:
    with pytest.raises(MalformedRecord, match="Id"):
        read_record(
            {"IsDeleted": True, "LastModifiedDate": "2026-11-20T10:02:11.000+0000"}, "b", URL
        )
    with pytest.raises(MalformedRecord, match="LastModifiedDate"):
        read_record({"Id": "500", "IsDeleted": True}, "b", URL)


def test_odd_ids_are_quoted_in_the_case_url() -> None:
    case = read_record(record(Id="500/a b?c"), "banana", URL)
    assert isinstance(case, Case)
    assert case.url == URL + "500%2Fa%20b%3Fc"
    assert case.source_id == "500/a b?c"


# -- the cursor ----------------------------------------------------------------


def test_cursor_format_is_what_modified_since_takes() -> None:
    moment = datetime(2026, 11, 20, 12, 2, 11, 123000, tzinfo=timezone(timedelta(hours=2)))
    assert format_cursor(moment) == "2026-11-20T10:02:11.123Z"
    assert (
        format_cursor(datetime(2026, 11, 20, 10, 2, 11, tzinfo=UTC)) == "2026-11-20T10:02:11.000Z"
    )
    assert format_cursor(datetime(2026, 11, 20, 10, 2, 11, 123456, tzinfo=UTC)) == (
        "2026-11-20T10:02:11.123456Z"
    )


@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    )
)
def test_a_cursor_stands_for_exactly_its_moment(moment: datetime) -> None:
    cursor = format_cursor(moment)
    assert cursor.endswith("Z")
    assert parse_cursor(cursor) == moment


@pytest.mark.parametrize(
    "cursor",
    [
        None,
        "",
        "garbage",
        "2026-11-20T10:02:11+00:00",
        "2026-11-20T10:02:11.000+0000",
        "2026-13-01T00:00:00Z",
    ],
)
def test_a_cursor_that_is_not_ours_means_read_everything(cursor: str | None) -> None:
    assert parse_cursor(cursor) is None


# -- the typed path agrees with read_record ---------------------------------------------

FIELDS = tuple(record())
ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**40), max_value=2**40),
    st.text(max_size=4),
    st.sampled_from(
        [
            "   ",
            "x" * 256,
            "é" * 255,
            "2026-11-20T12:02:11.000+0200",
            "2026-11-20T10:02:11Z",
            "2026-11-20T10:02:11.000",
            "2026-02-30T10:02:11.000+0000",
            "20/11/2026 10:02",
            "500/a b",
        ]
    ),
    st.lists(st.integers(0, 9), max_size=1),
    st.dictionaries(st.text(max_size=1), st.integers(0, 9), max_size=1),
    st.just(...),  # the field is absent
)
RECORDS = st.lists(
    st.builds(
        lambda deleted, changes: record(**{"IsDeleted": deleted, **changes}),
        st.sampled_from([False, True, ...]),
        st.dictionaries(st.sampled_from(FIELDS), ODD_VALUES, max_size=3),
    ),
    max_size=6,
)


def careful(records: list[dict[str, Any]]) -> list[Case | Tombstone | None]:
    out: list[Case | Tombstone | None] = []
    for item in records:
        try:
            out.append(read_record(item, "banana", URL))
        except MalformedRecord:
            out.append(None)
    return out


@settings(max_examples=300, deadline=None)
@given(RECORDS)
def test_whenever_the_typed_path_answers_it_agrees_with_read_record(
    records: list[dict[str, Any]],
) -> None:
    body = orjson.dumps({"totalSize": len(records), "done": True, "records": records})
    typed = _decode_typed(body)
    quick = read_typed(typed.records, "banana", URL) if typed is not None else None
    if quick is None:
        return  # the careful path reads this page
    cases, tombstones, newest = quick
    expected = careful(records)
    assert None not in expected, "the typed path never takes a malformed record"
    assert cases == [c for c in expected if isinstance(c, Case)]
    assert tombstones == [t for t in expected if isinstance(t, Tombstone)]
    times = [c.updated_at if isinstance(c, Case) else c.deleted_at for c in expected]
    assert newest == max((t for t in times if t is not None), default=None)


def test_the_typed_path_reads_the_simulators_pages() -> None:
    with BananaSimulator(n=500, seed=2) as sim:
        sim.send_offset_timestamps(0.3)
        records = [r for page in _pages(sim) for r in page]
    typed = _decode_typed(orjson.dumps({"done": True, "records": records}))
    assert typed is not None
    quick = read_typed(typed.records, "banana", URL)
    assert quick is not None, "clean pages never need the careful path"
    cases, tombstones, _ = quick
    assert [*cases, *tombstones] != []
    expected = careful(records)
    assert cases == [c for c in expected if isinstance(c, Case)]
    assert tombstones == [t for t in expected if isinstance(t, Tombstone)]


def _pages(sim: BananaSimulator) -> list[list[dict[str, Any]]]:
    with httpx.Client(base_url=sim.url) as client:
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
        }
        token = client.post("/oauth/token", data=form).json()["access_token"]
        page = client.get(
            "/api/v2/cases",
            params={"pageSize": 2000, "includeDeleted": "true"},
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert page["done"]
        return [page["records"]]

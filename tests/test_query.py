"""Query parameters: validation in words, and signed cursors."""

from __future__ import annotations

import pytest

from supporthub import InvalidQuery, Status
from supporthub.grouping.normalize import provider_key
from supporthub.query.listing import CursorCodec, Position
from supporthub.service._params import parse_params

CODEC = CursorCodec(b"k" * 32)


def parse(*params: tuple[str, str], filters: bool = True):
    return parse_params(params, filters=filters, provider_key=provider_key, codec=lambda: CODEC)


def test_filters_become_keys_and_repeats_mean_any() -> None:
    query = parse(
        ("provider", "ACME PAYMENTS INC"),
        ("provider", "globex"),
        ("errorCode", "E-1042"),
        ("status", "OPEN"),
        ("status", "closed"),
    )
    assert query.provider_keys == ("acme payments", "globex")
    assert query.error_code_keys == ("1042",)
    assert query.statuses == (Status.OPEN, Status.CLOSED)


@pytest.mark.parametrize(
    ("params", "words"),
    [
        ((("status", "pending"),), "status must be 'open' or 'closed'"),
        ((("provider", ""),), "provider '' has no letters or digits"),
        ((("provider", "---"),), "no letters or digits"),
        ((("errorCode", " "),), "errorCode ' ' is empty"),
        ((("errorCode", "E-"),), "empty"),
        ((("provider", "x" * 201),), "longer than 200 characters"),
        ((("errorcode", "1"),), "unknown parameter 'errorcode' (did you mean 'errorCode'?)"),
        ((("limit", "0"),), "limit must be between 1 and 1000"),
        ((("limit", "1001"),), "between 1 and 1000"),
        ((("limit", "ten"),), "limit must be a whole number"),
        ((("limit", "-1"),), "whole number"),
        ((("limit", "1"), ("limit", "2")), "limit may be given only once"),
        ((("casesLimit", "-1"),), "casesLimit must be a whole number"),
        ((("cursor", "nope"),), "cursor is not one this hub issued"),
        ((("status", "open\x00"),), "status must be"),
    ],
)
def test_bad_parameters_are_refused_in_words(params, words: str) -> None:
    with pytest.raises(InvalidQuery) as refused:
        parse(*params)
    assert words in str(refused.value)


def test_filters_are_refused_where_they_do_not_belong() -> None:
    with pytest.raises(InvalidQuery, match="unknown parameter 'status'"):
        parse(("status", "open"), filters=False)


def test_exactly_200_characters_is_allowed() -> None:
    assert parse(("provider", "a" * 200)).provider_keys == ("a" * 200,)


def test_cursor_round_trip_and_forgery() -> None:
    position = Position(True, 12, "abc")
    cursor = CODEC.encode(position)
    assert parse(("cursor", cursor)).after == position
    forged = CursorCodec(b"x" * 32).encode(position)
    for bad in (forged, cursor[:-2], cursor + "x", "a.b", "", ".", cursor.replace(".", "")):
        with pytest.raises(InvalidQuery):
            CODEC.decode(bad)


def test_large_cases_limit_means_all() -> None:
    assert parse(("casesLimit", "99999999999")).cases_limit is None
    assert parse(("casesLimit", "0")).cases_limit == 0

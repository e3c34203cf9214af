"""The normalization rules of contract §3: every example, and their invariants."""

from __future__ import annotations

import re
import sys
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from supporthub import error_code_key, provider_key
from supporthub.grouping.normalize import LEGAL_SUFFIXES


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Acme Payments, Inc.", "acme payments"),
        ("ACME PAYMENTS", "acme payments"),
        (" acme-payments ", "acme payments"),
        ("Acme Co Inc", "acme"),
        ("Inc.", "inc"),
        ("acme_payments", "acme payments"),  # `_` is a separator
        ("Acme Payments LLC", "acme payments"),
        ("Acme Payments GmbH", "acme payments"),
        ("Acme Payments Ltd.", "acme payments"),
        ("Acme Payments Incorporated", "acme payments"),
        ("Acme Payments Corp", "acme payments"),
        ("Acme Payments Corporation", "acme payments"),
        ("Acme Payments plc", "acme payments"),
        ("Acme Payments AG", "acme payments"),
        ("Acme Payments S.A.", "acme payments"),  # default@2: dotted initials join
        ("Acme Payments SA", "acme payments"),
        ("Acme Payments Limited", "acme payments"),
        ("Inc Co", "inc"),  # drops while more than one word remains
        ("Co", "co"),
        ("ＡＣＭＥ　Ｐａｙｍｅｎｔｓ", "acme payments"),  # NFKC: full-width letters and space
        ("Straße GmbH", "strasse"),  # casefold
        ("Crème Brûlée Pay", "creme brulee pay"),  # default@2: Latin accents fold
        ("", None),
        ("   ", None),
        ("---", None),
        ("..._..", None),
        (None, None),
    ],
)
def test_provider_key_examples(raw: str | None, key: str | None) -> None:
    assert provider_key(raw) == key


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("E-1042", "1042"),
        ("1042", "1042"),
        (" 1042 ", "1042"),
        ("E-E-1042", "1042"),
        ("e-auth_failed", "AUTH_FAILED"),
        ("AUTH_FAILED", "AUTH_FAILED"),
        ("auth_failed", "AUTH_FAILED"),
        ("E- 1042", "1042"),  # trimmed again after the prefix
        (" e-E- 1042\t", "1042"),
        ("E-", None),
        ("E-E-", None),
        ("  ", None),
        ("", None),
        (None, None),
        ("１０４２", "1042"),  # NFKC digits
        ("E1042", "E1042"),  # no dash, no prefix
    ],
)
def test_error_code_key_examples(raw: str | None, key: str | None) -> None:
    assert error_code_key(raw) == key


def test_word_characters_are_exactly_alphanumerics_and_underscore() -> None:
    """The separator regex relies on `\\w` == isalnum() or '_' over every code point."""
    word = re.compile(r"\w")
    mismatches = [
        code
        for code in range(sys.maxunicode + 1)
        if (chr(code).isalnum() or chr(code) == "_") != bool(word.match(chr(code)))
    ]
    assert mismatches == []


_spelling = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=40)


@given(_spelling)
def test_provider_key_is_idempotent(raw: str) -> None:
    key = provider_key(raw)
    assert provider_key(key) == key


@given(_spelling)
def test_error_code_key_is_idempotent(raw: str) -> None:
    key = error_code_key(raw)
    assert error_code_key(key) == key


@given(_spelling)
def test_provider_key_shape(raw: str) -> None:
    key = provider_key(raw)
    if key is not None:
        assert key == key.strip()
        assert "  " not in key
        # default@2 keeps combining marks: they are part of their letter.
        assert all(ch.isalnum() or ch == " " or unicodedata.category(ch)[0] == "M" for ch in key)
        words = key.split(" ")
        assert len(words) == 1 or words[-1] not in LEGAL_SUFFIXES


_name = st.lists(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8),
    min_size=1,
    max_size=4,
).filter(lambda words: words[-1] not in LEGAL_SUFFIXES or len(words) == 1)


@given(
    _name,
    st.sampled_from([str.upper, str.lower, str.title, lambda s: s]),
    st.sampled_from([" ", "-", "_", ", ", " . ", "\t", "/"]),
    st.sampled_from(["", " Inc.", ", Inc.", " LLC", " GmbH", " Ltd", " co", " Corp."]),
    st.sampled_from(["", " ", "  ", "\u00a0", "\n"]),
)
def test_spelling_variants_meet(words, case, separator, suffix, padding) -> None:  # type: ignore[no-untyped-def]
    canonical = provider_key(" ".join(words))
    variant = padding + case(separator.join(words)) + suffix + padding
    assert provider_key(variant) == canonical


@given(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", min_size=1, max_size=12).filter(
        lambda code: not code.startswith("E-")
    ),
    st.integers(min_value=0, max_value=3),
    st.sampled_from([str.upper, str.lower]),
    st.sampled_from(["", " ", "\t", "\u3000"]),
)
def test_error_code_variants_meet(code, prefixes, case, padding) -> None:  # type: ignore[no-untyped-def]
    variant = padding + case("E-" * prefixes + code) + padding
    assert error_code_key(variant) == error_code_key(code)

"""Rule set default@2 (contract §3): every example, each step, bad input, invariants."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from supporthub import error_code_key, provider_key
from supporthub.grouping.normalize import (
    LEGAL_FORMS,
    MAX_KEY_LENGTH,
    RULE_SET,
    error_code_key_v1,
    provider_key_v1,
)

# -- the contract's examples -----------------------------------------------------

CONTRACT_PROVIDER_GROUPS = [
    (["Acme Payments, Inc.", "ACME PAYMENTS", " acme-payments "], "acme payments"),
    (["Acme S.A.", "ACME SA", "Acme, Inc."], "acme"),
    (["Ford Motor Company", "Ford Motor Co."], "ford motor"),
    (["Marks & Spencer plc", "Marks and Spencer"], "marks and spencer"),
    (["İŞ BANKASI", "iş bankası"], "is bankasi"),
    (["Nestlé", "Nestle"], "nestle"),
    (["Łódź", "Lodz"], "lodz"),
    (["McDonald's", "McDonalds"], "mcdonalds"),
    (["ソニー株式会社", "株式会社ソニー", "ソニー"], "ソニー"),
]


@pytest.mark.parametrize(("spellings", "key"), CONTRACT_PROVIDER_GROUPS)
def test_contract_spellings_share_a_key(spellings: list[str], key: str) -> None:
    assert {provider_key(s) for s in spellings} == {key}


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("Inc.", "inc"),  # a company named Inc keeps its name
        ("The Limited", "limited"),
        ("The Co.", "co"),
        ("Acme", "acme"),
        ("Acme Bank", "acme bank"),  # stays apart from Acme
        ("Pty Ltd", "pty"),  # the longest ending that leaves a word
        ("KKR & Co. Inc.", "kkr"),  # then the `and` left at the end
        ("AT&T", "at and t"),
        ("S.A.", "sa"),
        ("L.L.C.", "llc"),
        ("J.P. Morgan", "jp morgan"),
        ("j p morgan", "jp morgan"),
        ("acme_payments", "acme payments"),  # `_` separates
        ("सोनी इंडिया", "सोनी इंडिया"),  # Sony India ...
        ("सैनी इंडिया", "सैनी इंडिया"),  # ... and Saini India stay apart
        ("Ac\u200bme Pay\u00adments", "acme payments"),  # format characters vanish
        ("", None),
        (" -- ", None),
        ("\u200b\u200d\ufeff", None),  # format characters only
        (None, None),
    ],
)
def test_contract_provider_keys(raw: str | None, key: str | None) -> None:
    assert provider_key(raw) == key


@pytest.mark.parametrize(
    "raw",
    [
        "E-1042",
        "E\u20131042",
        "1042",
        " 1042 ",
        "1042\u200b",
        "E-E-1042",
        "E - 1042",
        "E\u20111042",
    ],
)
def test_contract_error_codes_share_1042(raw: str) -> None:
    assert error_code_key(raw) == "1042"


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("e-auth_failed", "AUTH_FAILED"),
        ("AUTH_FAILED", "AUTH_FAILED"),
        ("E\u22121042", "1042"),  # U+2212 minus
        ("E\uff0d1042", "1042"),  # full-width hyphen-minus, through NFKC
        ("E\u2014E\u2014 7", "7"),  # em dashes
        ("E \t- \u00a0x-1", "X-1"),
        ("AB\u2013CD", "AB-CD"),  # a dash inside a code is a dash too
        ("E1042", "E1042"),  # no dash, no prefix
        ("E-", None),
        ("\u200b", None),
        (None, None),
    ],
)
def test_error_code_keys(raw: str | None, key: str | None) -> None:
    assert error_code_key(raw) == key


def test_the_rule_set_is_named() -> None:
    assert RULE_SET == "default@2"


CONTRACT_LEGAL_FORMS = [
    "inc",
    "incorporated",
    "llc",
    "ltd",
    "limited",
    "corp",
    "corporation",
    "co",
    "company",
    "and co",
    "co ltd",
    "co inc",
    "gmbh",
    "gmbh and co kg",
    "kg",
    "ohg",
    "ag",
    "aktiengesellschaft",
    "se",
    "sa",
    "sas",
    "sarl",
    "srl",
    "spa",
    "sl",
    "nv",
    "bv",
    "ab",
    "oy",
    "oyj",
    "as",
    "asa",
    "aps",
    "plc",
    "lp",
    "llp",
    "pty",
    "pty ltd",
    "pvt",
    "pvt ltd",
    "private limited",
    "pte",
    "pte ltd",
    "sdn bhd",
    "bhd",
    "kk",
    "株式会社",
    "有限公司",
]


def test_every_contract_legal_form_is_listed() -> None:
    assert set(CONTRACT_LEGAL_FORMS) <= set(LEGAL_FORMS)
    assert len(LEGAL_FORMS) == len(set(LEGAL_FORMS))


@pytest.mark.parametrize("form", LEGAL_FORMS)
def test_every_listed_legal_form_is_dropped(form: str) -> None:
    assert provider_key(f"Acme {form}") == "acme"


# -- each step -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("left", "right"),
    [
        # 1: NFKC, format characters vanish without separating
        ("ＡＣＭＥ　Ｐａｙ", "acme pay"),
        ("Ac\u2060me\u200e Pay\ufeff", "acme pay"),
        # 3: Latin accents and the letters that do not decompose
        ("Société Générale", "Societe Generale"),
        ("Ørsted", "Orsted"),
        ("Đakovo Þór", "Dakovo Thor"),
        ("Æon Œuvre", "Aeon Oeuvre"),
        ("Straße", "strasse"),
        ("Nestle\u0301", "Nestlé"),  # decomposed or not
        # 4: apostrophes between letters; & and +
        ("Macy’s", "Macys"),
        ("Macyʼs", "Macys"),
        ("Macy`s", "Macys"),
        ("Procter & Gamble", "Procter and Gamble"),
        ("Procter+Gamble", "Procter and Gamble"),
        # 6: dotted abbreviations
        ("G.m.b.H.", "gmbh"),
        ("Acme B.V.", "Acme"),
        ("Acme S.p.A.", "Acme"),
        ("Acme S.à r.l.", "Acme"),
        ("Acme Sp. z o.o.", "Acme"),
        # 7: a leading `the`
        ("The Acme Group", "Acme Group"),
        ("The The Band", "Band"),
        # 8: legal forms, longest first, then `and`
        ("Acme GmbH & Co. KG", "Acme"),
        ("Acme Co., Ltd.", "Acme"),
        ("Acme Pvt. Ltd.", "Acme"),
        ("Acme Private Limited", "Acme"),
        ("Acme Sdn. Bhd.", "Acme"),
        ("Acme & Co", "Acme"),
        ("Acme Inc Ltd", "Acme"),
        ("トヨタ自動車株式会社", "トヨタ自動車"),
        ("华为技术有限公司", "华为技术"),
        ("台積電股份有限公司", "台積電"),
        ("有限会社ヤマト", "ヤマト"),
    ],
)
def test_steps_fold(left: str, right: str) -> None:
    assert provider_key(left) == provider_key(right)


@pytest.mark.parametrize(
    ("left", "right"),
    [
        ("Acme", "Acme Bank"),
        ("सोनी", "सैनी"),  # Devanagari vowel signs are part of the letter
        ("Ελλάς", "Ελλας"),  # so is a Greek accent
        ("Йота", "Иота"),  # and a Cyrillic breve
        ("ガス", "カス"),  # and a Japanese voicing mark
        ("Acme Payments", "Payments Acme"),  # word order is for people
        ("Acme 1", "Acme 2"),
        ("Acme & Beta", "Acme Beta"),  # `and` stays inside a name
    ],
)
def test_different_names_stay_apart(left: str, right: str) -> None:
    assert provider_key(left) != provider_key(right)


def test_a_name_that_is_only_a_legal_form_keeps_it() -> None:
    assert provider_key("Limited Co") == "limited"
    assert provider_key("株式会社") == "株式会社"
    assert provider_key("The") == "the"
    assert provider_key("and co") == "and"


def test_default_at_1_is_kept_by_name() -> None:
    assert provider_key_v1("Acme S.A.") == "acme s a"
    assert provider_key_v1("Nestlé") == "nestlé"
    assert provider_key_v1("सोनी इंडिया") == provider_key_v1("सैनी इंडिया")  # its over-merge
    assert error_code_key_v1("E\u20131042") == "E\u20131042"


# -- bad input -------------------------------------------------------------------


def test_255_combining_marks_give_a_key_the_store_holds() -> None:
    marks = [chr(c) for c in range(0x110000) if unicodedata.category(chr(c))[0] == "M"]
    longest = max(len(provider_key(mark * 255) or "") for mark in marks)
    assert 255 <= longest <= MAX_KEY_LENGTH
    assert provider_key("\u0301" * 255) == "\u0301" * 255  # no letter to fold them into
    assert provider_key("e" + "\u0301" * 254) == "e"  # all on a Latin letter


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("\u00ad\u200b\u2060\u202e", None),
        ("Acme Ελλάς Москва 東京", "acme ελλάσ москва 東京"),  # casefold: a final sigma is a sigma
        ("Аcme", "аcme"),  # a Cyrillic first letter: a different key, a suggestion's job
        ("\ud800", None),
        ("Acme\udfff Pay", "acme pay"),
    ],
)
def test_bad_input_gives_a_key_or_none(raw: str, key: str | None) -> None:
    assert provider_key(raw) == key


def test_lone_surrogates_in_error_codes_never_raise() -> None:
    assert error_code_key("\ud800") == "\ud800"
    assert error_code_key("E-\udfff") == "\udfff"


# -- invariants ------------------------------------------------------------------

# Any code point, lone surrogates included (JSON can carry them).
_any_text = st.text(
    st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
    ),
    max_size=40,
)
_FORMAT = st.sampled_from(
    "\u00ad\u061c\u180e\u200b\u200c\u200d\u200e\u200f\u202a\u202b\u202c\u202d\u202e"
    "\u2060\u2061\u2066\u2067\u2068\u2069\ufeff\U000e0001\U000e0041"
)


@given(_any_text)
@example("i\u0307\u0307")
@example("ǅ a")
def test_keys_never_raise_and_are_idempotent(raw: str) -> None:
    key = provider_key(raw)
    assert provider_key(key) == key
    code = error_code_key(raw)
    assert error_code_key(code) == code


@given(_any_text)
def test_key_shape(raw: str) -> None:
    key = provider_key(raw)
    if key is not None:
        assert key == key.strip() and "  " not in key
        assert all(ch == " " or unicodedata.category(ch)[0] in "LNM" for ch in key)


@given(_any_text, st.lists(st.tuples(st.integers(0, 40), _FORMAT), max_size=5))
def test_format_characters_never_change_a_key(raw: str, inserts: list[tuple[int, str]]) -> None:
    spiked = raw
    for at, ch in inserts:
        spiked = spiked[:at] + ch + spiked[at:]
    assert provider_key(spiked) == provider_key(raw)
    assert error_code_key(spiked) == error_code_key(raw)


# Units of a name: a letter with the marks written on it. `fold` is what §3
# makes of a unit; two units whose folds differ differ beyond what §3 folds.
_LATIN = "abcdefghijklmnopqrstuvwxyzłøđðþæœı"
_LATIN_FOLD = {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i"}
_LATIN_MARKS = ["", "\u0301", "\u0308", "\u0327", "\u030c", "\u0300\u0323"]
_OTHER_UNITS = (
    [b + m for b in "कसनडयमप" for m in ["", "ा", "ि", "ी", "ु", "े", "ै", "ो", "ौ", "्"]]
    + [b + m for b in "αβγδεικλμνοπρτυφ" for m in ["", "\u0301", "\u0308"]]
    + [b + m for b in "абвгдежзиклмнопрстуфх" for m in ["", "\u0306", "\u0308"]]
    + list("東京電力銀行トヨタカガキギソニーサムスン삼성전자")
)


@st.composite
def _unit(draw: st.DrawFn) -> tuple[str, str]:
    """A unit as typed and as §3 folds it."""
    if draw(st.booleans()):
        base = draw(st.sampled_from(_LATIN))
        marks = draw(st.sampled_from(_LATIN_MARKS))
        typed = base.upper() if draw(st.booleans()) and base != "ı" else base
        return typed + marks, _LATIN_FOLD.get(base, base)
    unit = draw(st.sampled_from(_OTHER_UNITS))
    return unit, unicodedata.normalize("NFC", unit)


_DROPPABLE = {word for form in LEGAL_FORMS for word in form.split()} | {"the", "and"}


@given(
    st.lists(st.lists(_unit(), min_size=2, max_size=6), min_size=1, max_size=3),
    st.data(),
)
def test_no_rule_joins_names_that_differ_in_a_letter(
    words: list[list[tuple[str, str]]], data: st.DataObject
) -> None:
    folded = ["".join(f for _, f in word) for word in words]
    assume(not _DROPPABLE & set(folded))
    at = data.draw(st.integers(0, len(words) - 1))
    pos = data.draw(st.integers(0, len(words[at]) - 1))
    other = data.draw(_unit())
    assume(other[1] != words[at][pos][1])
    changed = [list(word) for word in words]
    changed[at][pos] = other
    assume(not _DROPPABLE & {"".join(f for _, f in word) for word in changed})
    separator = data.draw(st.sampled_from([" ", "-", ", ", " / "]))

    def spell(name: list[list[tuple[str, str]]]) -> str:
        return separator.join("".join(t for t, _ in word) for word in name)

    assert provider_key(spell(words)) != provider_key(spell(changed))
    assert provider_key(spell(words)) == " ".join(folded)


@given(
    st.lists(
        st.text("abcdefghijklmnopqrstuvwxyzé", min_size=2, max_size=8), min_size=1, max_size=3
    ),
    st.sampled_from([str, str.upper, str.title]),
    st.sampled_from([" ", "-", "_", ", ", " . ", "\u00a0", "/", " \u200b"]),
    st.sampled_from(["", " Inc.", ", L.L.C.", " GmbH & Co. KG", " S.A.", " Pty Ltd", " Co."]),
    st.booleans(),
)
def test_what_section_3_folds_meets(words, case, separator, suffix, the) -> None:  # type: ignore[no-untyped-def]
    assume(not _DROPPABLE & {w.replace("é", "e") for w in words})
    canonical = provider_key(" ".join(words))
    variant = ("The " if the else "") + case(separator.join(words)) + suffix
    assert provider_key(variant) == canonical

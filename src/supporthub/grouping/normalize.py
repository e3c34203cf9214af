"""The default normalization rules of the contract (§3), as pure functions.

Raw provider names and error codes are typed by people, so the same provider
arrives as ``Acme Payments, Inc.``, ``ACME PAYMENTS`` or `` acme-payments ``.
These functions turn each spelling into a *key* that equal spellings share.
Both are idempotent: the key of a key is the key itself.

:func:`provider_key` and :func:`error_code_key` are rule set ``default@2``
(``docs/grouping.md`` explains each step and why it exists);
:func:`provider_key_v1` and :func:`error_code_key_v1` keep ``default@1``, so
data grouped by it can be compared and regrouped.

Keying runs once per case on every refresh, so the rules are written for
speed: ASCII spellings (most of them) take a regex-only path, per-character
Unicode facts are looked up once and remembered, and whole keys are cached.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from typing import Final

__all__ = [
    "ATTACHED_LEGAL_FORMS",
    "LEGAL_FORMS",
    "LEGAL_SUFFIXES",
    "MAX_KEY_LENGTH",
    "RULE_SET",
    "error_code_key",
    "error_code_key_v1",
    "provider_key",
    "provider_key_v1",
]

#: The rule set :func:`provider_key` and :func:`error_code_key` implement.
RULE_SET: Final = "default@2"

#: Longest key the store accepts. NFKC can expand a 255-character raw value
#: (one code point may become 18), so keys get more room than raw values.
MAX_KEY_LENGTH = 1024

# Guards against a pathological oscillation; real input settles in 1-2 rounds.
_MAX_ROUNDS = 16

# -- default@1 ---------------------------------------------------------------

#: default@1: trailing words dropped while more than one word remains.
LEGAL_SUFFIXES = frozenset(
    {
        "inc",
        "incorporated",
        "llc",
        "ltd",
        "limited",
        "corp",
        "corporation",
        "co",
        "gmbh",
        "plc",
        "ag",
        "sa",
    }
)

# `\w` is exactly `str.isalnum()` plus `_` (checked over every code point in
# the tests), so `[\W_]+` matches every run of non-alphanumerics.
_SEPARATORS = re.compile(r"[\W_]+")


def _provider_round_v1(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).casefold()
    words = _SEPARATORS.sub(" ", value).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


def _error_code_round_v1(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip().upper()
    while value.startswith("E-"):
        value = value[2:].strip()
    return value


def _settle(step: Callable[[str], str], raw: str) -> str:
    """Apply one round of rules until the value no longer changes."""
    value = raw
    for _ in range(_MAX_ROUNDS):
        settled = step(value)
        if settled == value:
            break
        value = settled
    return value


@functools.lru_cache(maxsize=65536)
def provider_key_v1(raw: str | None) -> str | None:
    """Rule set ``default@1`` of the provider key, kept to compare and regroup old data.

    NFKC, casefold, every run of non-alphanumerics becomes one space, trim,
    then trailing legal suffixes (:data:`LEGAL_SUFFIXES`) are dropped while
    more than one word remains; repeated until nothing changes.

    >>> provider_key_v1("Acme Payments, Inc.")
    'acme payments'
    >>> provider_key_v1("Acme S.A.")
    'acme s a'
    """
    if raw is None:
        return None
    return _settle(_provider_round_v1, raw) or None


@functools.lru_cache(maxsize=65536)
def error_code_key_v1(raw: str | None) -> str | None:
    """Rule set ``default@1`` of the error code key: NFKC, trim, uppercase, drop ``E-``.

    >>> error_code_key_v1(" E-E-1042 ")
    '1042'
    """
    if raw is None:
        return None
    return _settle(_error_code_round_v1, raw) or None


# -- default@2: the legal forms ------------------------------------------------

#: Legal forms dropped from the end of a provider name (``default@2``, step 8),
#: as words after steps 1-6 (so ``S.A.`` is ``sa``, ``GmbH & Co. KG`` is
#: ``gmbh and co kg``). The contract's list first, then the project's own.
LEGAL_FORMS: Final[tuple[str, ...]] = (
    # contract §3
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
    # the project's additions: English
    "pllc",
    "lllp",
    "ltd co",
    "corp ltd",
    "co llc",
    "public limited company",
    "limited liability company",
    "proprietary limited",
    # German-speaking countries
    "mbh",
    "kgaa",
    "gmbh co kg",
    "ag and co kg",
    "ag co kg",
    "se and co kg",
    "se and co kgaa",
    "gmbh and co kgaa",
    "ug haftungsbeschrankt",
    "gesellschaft mbh",
    # French, Italian, Spanish, Portuguese, Latin America
    "sasu",
    "eurl",
    "sca",
    "srls",
    "sapa",
    "slu",
    "sau",
    "lda",
    "ltda",
    "sa de cv",
    "sab de cv",
    "sapi de cv",
    "s de rl de cv",
    "s de rl",
    # Benelux, Nordic, Baltic
    "bvba",
    "cvba",
    "sprl",
    "abp",
    "ehf",
    # Central and Eastern Europe, Turkey, Greece
    "sp zoo",
    "spzoo",
    "spolka zoo",
    "spolka akcyjna",
    "sro",
    "spol sro",
    "kft",
    "zrt",
    "nyrt",
    "doo",
    "ltd sti",
    "αε",
    # Asia
    "लिमिटेड",
    "प्राइवेट लिमिटेड",
    "tbk",
    "berhad",
    "sdn",
    "gk",
    "有限会社",
    "股份有限公司",
    "有限责任公司",
    "合同会社",
    "주식회사",
)

#: Legal forms also dropped when written attached to the start or the end of
#: the name, as Chinese and Japanese write them (``ソニー株式会社``).
ATTACHED_LEGAL_FORMS: Final[tuple[str, ...]] = (
    "股份有限公司",
    "有限责任公司",
    "株式会社",
    "有限会社",
    "有限公司",
    "合同会社",
)

_FORMS: Final = frozenset(tuple(form.split(" ")) for form in LEGAL_FORMS)
_LONGEST_FORM: Final = max(len(form) for form in _FORMS)
# Most names do not end in a legal form: one set lookup tells.
_LAST_WORDS: Final = frozenset(form[-1] for form in _FORMS)
# Attached forms are CJK: a name without such characters has none.
_ATTACHED_CHARS: Final = frozenset("".join(ATTACHED_LEGAL_FORMS))

# -- default@2: per-character facts, looked up once ----------------------------

# Kinds of a character for steps 4-5.
_LETTER, _OTHER_WORD, _SEPARATOR = 0, 1, 2

_APOSTROPHES: Final = frozenset("'\u2019\u02bc`")
#: Latin letters that do not decompose, folded by name (step 3).
_LATIN_LETTERS: Final = str.maketrans(
    {"ł": "l", "ø": "o", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "\u0131": "i"}
)


_category = unicodedata.category


# Bounded: arbitrary text must not grow a cache without limit.
@functools.lru_cache(maxsize=8192)
def _is_latin_letter(ch: str) -> bool:
    return _category(ch)[0] == "L" and "LATIN" in unicodedata.name(ch, "")


def _kind(ch: str) -> int:
    major = _category(ch)[0]
    if major == "L":
        return _LETTER
    if major in "NM":
        return _OTHER_WORD
    return _SEPARATOR


def _without_format(value: str) -> str:
    return "".join(ch for ch in value if _category(ch) != "Cf")


def _fold_latin(value: str) -> str:
    """Step 3: drop the marks that follow a Latin letter; fold ``ł``, ``ø`` …"""
    if value.isascii():
        return value
    out = []
    latin = False
    for ch in unicodedata.normalize("NFKD", value):
        if _category(ch)[0] == "M":
            if not latin:
                out.append(ch)
        else:
            latin = _is_latin_letter(ch)
            out.append(ch)
    return unicodedata.normalize("NFC", "".join(out)).translate(_LATIN_LETTERS)


def _words_unicode(value: str) -> list[str]:
    """Steps 1-5 for any text: the words of one round."""
    value = _without_format(unicodedata.normalize("NFKC", value))
    value = value.casefold().replace("i\u0307", "i")
    value = _fold_latin(value)
    out = []
    last = len(value) - 1
    for index, ch in enumerate(value):
        if ch in _APOSTROPHES:
            between_letters = (
                0 < index < last
                and _kind(value[index - 1]) == _LETTER
                and _kind(value[index + 1]) == _LETTER
            )
            if between_letters:
                continue
        if ch in "&+":
            out.append(" and ")
        elif _kind(ch) == _SEPARATOR:
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out).split()


_ASCII_APOSTROPHE: Final = re.compile(r"(?<=[a-z])['`](?=[a-z])")
_ASCII_AND: Final = re.compile(r"[&+]")
_ASCII_SEPARATORS: Final = re.compile(r"[^a-z0-9]+")


def _words_ascii(value: str) -> list[str]:
    """Steps 1-5 for ASCII text, where most of them have nothing to do."""
    value = _ASCII_APOSTROPHE.sub("", value.lower())
    value = _ASCII_AND.sub(" and ", value)
    return _ASCII_SEPARATORS.sub(" ", value).split()


def _join_initials(words: list[str]) -> list[str]:
    """Step 6: consecutive one-letter words become one (``s a`` → ``sa``)."""
    if all(len(word) > 1 for word in words):
        return words
    joined: list[str] = []
    run: list[str] = []
    for word in [*words, ""]:
        if len(word) == 1 and _kind(word) == _LETTER:
            run.append(word)
            continue
        if len(run) > 1:
            joined.append("".join(run))
        else:
            joined.extend(run)
        run = []
        if word:
            joined.append(word)
    return joined


def _drop_attached(words: list[str]) -> list[str]:
    """Step 8, CJK: a legal form written onto the name's first or last word."""
    for form in ATTACHED_LEGAL_FORMS:
        if len(words[-1]) > len(form) and words[-1].endswith(form):
            return [*words[:-1], words[-1][: -len(form)]]
        if len(words[0]) > len(form) and words[0].startswith(form):
            return [words[0][len(form) :], *words[1:]]
    return words


def _drop_legal_forms(words: list[str]) -> list[str]:
    """Step 8: the longest legal-form ending, then a trailing ``and``."""
    while len(words) > 1 and words[-1] in _LAST_WORDS:
        for size in range(min(_LONGEST_FORM, len(words) - 1), 0, -1):
            if tuple(words[-size:]) in _FORMS:
                del words[-size:]
                if len(words) > 1 and words[-1] == "and":
                    words.pop()
                break
        else:
            break
    while not _ATTACHED_CHARS.isdisjoint(words[0]) or not _ATTACHED_CHARS.isdisjoint(words[-1]):
        shorter = _drop_attached(words)
        if shorter is words:
            break
        words = shorter
    return words


# The second round of nearly every key is the key itself: remembered.
@functools.lru_cache(maxsize=65536)
def _provider_round(value: str) -> str:
    words = _words_ascii(value) if value.isascii() else _words_unicode(value)
    if not words:
        return ""
    words = _join_initials(words)
    while len(words) > 1 and words[0] == "the":
        del words[0]
    return " ".join(_drop_legal_forms(words))


@functools.lru_cache(maxsize=65536)
def provider_key(raw: str | None) -> str | None:
    """Return the provider key of a raw provider name (rule set ``default@2``), or ``None``.

    NFKC without format characters, casefold, Latin accents folded,
    apostrophes inside words dropped, ``&``/``+`` as ``and``, every other run
    of non-alphanumerics one space, runs of one-letter words joined, then a
    leading ``the`` and trailing legal forms (:data:`LEGAL_FORMS`) dropped
    while more than one word remains; repeated until nothing changes.

    >>> provider_key("Acme Payments, Inc.")
    'acme payments'
    >>> provider_key("ACME S.A.")
    'acme'
    >>> provider_key("Marks & Spencer plc")
    'marks and spencer'
    >>> provider_key("Inc.")
    'inc'
    >>> provider_key(" -- ") is None
    True
    """
    if raw is None:
        return None
    return _settle(_provider_round, raw) or None


_E_PREFIX: Final = re.compile(r"E\s*-\s*")


def _error_code_round(value: str) -> str:
    value = unicodedata.normalize("NFKC", value)
    if not value.isascii():
        value = "".join(
            "-" if ch == "\u2212" or _category(ch) == "Pd" else ch
            for ch in value
            if _category(ch) != "Cf"
        )
    value = value.strip().upper()
    while match := _E_PREFIX.match(value):
        value = value[match.end() :].strip()
    return value


@functools.lru_cache(maxsize=65536)
def error_code_key(raw: str | None) -> str | None:
    """Return the error code key of a raw error code (rule set ``default@2``), or ``None``.

    NFKC, format characters removed, every dash a ``-``, trim, uppercase,
    then a leading ``E-`` (spaces around the dash count as nothing) is
    dropped and the rest trimmed as often as it appears; repeated until
    nothing changes.

    >>> error_code_key(" E-E-1042 ")
    '1042'
    >>> error_code_key("E\u20131042")
    '1042'
    >>> error_code_key("e-auth_failed")
    'AUTH_FAILED'
    """
    if raw is None:
        return None
    return _settle(_error_code_round, raw) or None

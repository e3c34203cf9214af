"""The default normalization rules of the contract (§3), as pure functions.

Raw provider names and error codes are typed by people, so the same provider
arrives as ``Acme Payments, Inc.``, ``ACME PAYMENTS`` or `` acme-payments ``.
These functions turn each spelling into a *key* that equal spellings share.
Both are idempotent: the key of a key is the key itself.
"""

from __future__ import annotations

import functools
import re
import unicodedata

__all__ = [
    "LEGAL_SUFFIXES",
    "MAX_KEY_LENGTH",
    "error_code_key",
    "error_code_key_v1",
    "provider_key",
    "provider_key_v1",
]

#: Trailing words dropped from a provider name while more than one word remains.
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

#: Longest key the store accepts. NFKC can expand a 255-character raw value
#: (one code point may become 18), so keys get more room than raw values.
MAX_KEY_LENGTH = 1024

# `\w` is exactly `str.isalnum()` plus `_` (checked over every code point in
# the tests), so `[\W_]+` matches every run of non-alphanumerics.
_SEPARATORS = re.compile(r"[\W_]+")

# Guards against a pathological oscillation; real input settles in 1-2 rounds.
_MAX_ROUNDS = 16


def _provider_round(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).casefold()
    words = _SEPARATORS.sub(" ", value).split()
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    return " ".join(words)


@functools.lru_cache(maxsize=65536)
def provider_key(raw: str | None) -> str | None:
    """Return the provider key of a raw provider name, or ``None`` if it is empty.

    NFKC, casefold, every run of non-alphanumerics becomes one space, trim,
    then trailing legal suffixes (``inc``, ``llc``, ``gmbh`` …) are dropped
    while more than one word remains; repeated until nothing changes.

    >>> provider_key("Acme Payments, Inc.")
    'acme payments'
    >>> provider_key("Acme Co Inc")
    'acme'
    >>> provider_key("Inc.")
    'inc'
    >>> provider_key(" -- ") is None
    True
    """
    if raw is None:
        return None
    value = raw
    for _ in range(_MAX_ROUNDS):
        settled = _provider_round(value)
        if settled == value:
            break
        value = settled
    return value or None


def _error_code_round(value: str) -> str:
    value = unicodedata.normalize("NFKC", value).strip().upper()
    while value.startswith("E-"):
        value = value[2:].strip()
    return value


@functools.lru_cache(maxsize=65536)
def error_code_key(raw: str | None) -> str | None:
    """Return the error code key of a raw error code, or ``None`` if it is empty.

    NFKC, trim, uppercase, then a leading ``E-`` is dropped (and the rest
    trimmed) as often as it appears; repeated until nothing changes.

    >>> error_code_key(" E-E-1042 ")
    '1042'
    >>> error_code_key("e-auth_failed")
    'AUTH_FAILED'
    """
    if raw is None:
        return None
    value = raw
    for _ in range(_MAX_ROUNDS):
        settled = _error_code_round(value)
        if settled == value:
            break
        value = settled
    return value or None


# Rule set default@1, kept by name: a database grouped by it is regrouped
# from these (and compared against them) when it is upgraded.
provider_key_v1 = provider_key
error_code_key_v1 = error_code_key

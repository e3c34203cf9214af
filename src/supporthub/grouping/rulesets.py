"""The default rule sets by name (``default@1``, ``default@2``): which key functions each uses.

A database records the default rule set its aggregated cases were grouped
by (the ``default_rules`` meta value). The hub keeps grouping by that rule
set until ``supporthub db upgrade`` regroups every stored case under
:data:`CURRENT_DEFAULT`, so new code never silently regroups a database the
operator has not looked at (``GET /rules/preview`` shows the pending change).
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from supporthub.grouping.normalize import (
    ATTACHED_LEGAL_FORMS,
    LEGAL_FORMS,
    LEGAL_SUFFIXES,
    error_code_key,
    error_code_key_v1,
    provider_key,
    provider_key_v1,
)
from supporthub.vocabulary.errors import ConfigurationError

__all__ = ["CURRENT_DEFAULT", "RULE_SETS", "UNRECORDED_DEFAULT", "RuleSet", "rule_set"]

KeyFunction = Callable[[str | None], str | None]


@attrs.frozen
class RuleSet:
    """One version of the default rules: its name, its key functions, its legal forms."""

    name: str
    provider_key: KeyFunction
    error_code_key: KeyFunction
    legal_forms: tuple[str, ...]

    @property
    def version(self) -> str:
        """The part after ``@``: what :class:`~supporthub.DefaultKey` reports."""
        return self.name.partition("@")[2]


#: The rule sets this version of the hub knows, by name.
RULE_SETS: dict[str, RuleSet] = {
    "default@1": RuleSet(
        "default@1", provider_key_v1, error_code_key_v1, tuple(sorted(LEGAL_SUFFIXES))
    ),
    "default@2": RuleSet(
        "default@2", provider_key, error_code_key, (*LEGAL_FORMS, *ATTACHED_LEGAL_FORMS)
    ),
}

#: What new databases are grouped by, and what ``supporthub db upgrade`` moves older ones to.
CURRENT_DEFAULT = "default@2"

#: What a database that predates recorded rule sets was grouped by.
UNRECORDED_DEFAULT = "default@1"


def rule_set(name: str | None) -> RuleSet:
    """The rule set called ``name`` (``None``: the current default).

    :raises ConfigurationError: the database was grouped by a rule set this
        version does not know (a newer hub wrote it).
    """
    found = RULE_SETS.get(name or CURRENT_DEFAULT)
    if found is None:
        known = ", ".join(RULE_SETS)
        raise ConfigurationError(
            f"the database is grouped by rule set {name!r}, which this version of supporthub "
            f"does not know (it knows {known}); upgrade supporthub"
        )
    return found

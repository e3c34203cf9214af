"""From cases to aggregated cases: the keys, and the incremental bookkeeping.

Pure code, no I/O. A :class:`KeyPipeline` turns a case into its
:class:`AggregationKey` by running the registered :class:`KeyRule` objects.
:class:`AggregateChanges` collects what changed cases add to and remove from
their aggregated cases, so that a refresh rewrites only the aggregated cases
its changes touch (:func:`apply_changes`). :func:`consolidate` computes the
same result from scratch; the tests hold the two against each other.
"""

from __future__ import annotations

import abc
import collections
import datetime as dt
import functools
import hashlib
import operator
from collections.abc import Callable, Iterable, Mapping
from typing import ClassVar

import attrs
import orjson

from supporthub.grouping.rulesets import RuleSet, rule_set
from supporthub.vocabulary.errors import ConfigurationError
from supporthub.vocabulary.models import AggregatedCase, AggregationKey, Case, Status
from supporthub.vocabulary.rows import (
    AGG_ID,
    CREATED_AT,
    IS_OPEN,
    PROVIDER,
    UPDATED_AT,
    AggregateRow,
    CaseRow,
)

__all__ = [
    "AggregateChanges",
    "AggregateRow",
    "DefaultKey",
    "KeyPipeline",
    "KeyRule",
    "Member",
    "ProviderAliases",
    "apply_changes",
    "consolidate",
    "display_provider",
]


class KeyRule(abc.ABC):
    """A step that builds or changes the aggregation key of a case.

    :cvar name: names the rule in explanations and in the rule-set version.
    :ivar version: bump it when the rule's output changes; stored cases are
        then regrouped at the next refresh.
    :cvar order: rules run in ascending order; the default key is 0.
    """

    name: ClassVar[str]
    # Per instance: the default key's version is the rule set it runs.
    version: str = "1"
    order: ClassVar[int] = 100

    @abc.abstractmethod
    def apply(self, case: Case, key: AggregationKey) -> AggregationKey:
        """Return the key of ``case`` given the key the earlier rules built."""

    def fingerprint(self) -> str:
        """What configures this rule, for the rule-set version (``""`` if nothing)."""
        return ""

    def reads(self) -> frozenset[str] | None:
        """The fields of the case :meth:`apply` looks at, besides the key it is given.

        ``None`` (the default): any of them. When every rule of a pipeline
        names its fields, the pipeline remembers the key of each combination
        of their values instead of running the rules for every case.
        """
        return None

    def search_provider_key(self, key: str) -> str:
        """Map a searched provider key the way :meth:`apply` maps a case's."""
        return key

    def for_rule_set(self, rules: RuleSet) -> KeyRule:
        """This rule as it runs under the default rule set ``rules`` (most rules: itself)."""
        return self


class DefaultKey(KeyRule):
    """The contract's default key: (provider key, error code key) of the raw values.

    :param rules: the default rule set it runs (default: the current one).
    """

    name = "default"
    version = "2"
    order = 0

    def __init__(self, rules: RuleSet | None = None) -> None:
        self.rules = rules or rule_set(None)
        self.version = self.rules.version

    def apply(self, case: Case, key: AggregationKey) -> AggregationKey:
        return AggregationKey(
            self.rules.provider_key(case.provider), self.rules.error_code_key(case.error_code)
        )

    def reads(self) -> frozenset[str]:
        return frozenset({"provider", "error_code"})

    def for_rule_set(self, rules: RuleSet) -> KeyRule:
        return self if rules == self.rules else DefaultKey(rules)


class ProviderAliases(KeyRule):
    """Maps provider spellings to the provider they mean (``SUPPORTHUB_PROVIDER_ALIASES``).

    Both sides are compared by provider key; chains resolve to their end
    (``a → b → c`` sends ``a`` to ``c``); a cycle is a configuration error.
    """

    name = "provider-aliases"
    order = 10

    def __init__(self, aliases: Mapping[str, str], rules: RuleSet | None = None) -> None:
        self.raw = dict(aliases)
        self.rules = rules or rule_set(None)
        mapping: dict[str, str] = {}
        for raw_from, raw_to in aliases.items():
            key_from = self.rules.provider_key(raw_from)
            key_to = self.rules.provider_key(raw_to)
            if key_from is None or key_to is None:
                raise ConfigurationError(
                    f"provider alias {raw_from!r} -> {raw_to!r}: both sides need a provider key"
                )
            if key_from != key_to:
                mapping[key_from] = key_to
        self.aliases = {key: self._resolve(mapping, key) for key in mapping}

    @staticmethod
    def _resolve(mapping: Mapping[str, str], key: str) -> str:
        seen = [key]
        while key in mapping:
            key = mapping[key]
            if key in seen:
                chain = " -> ".join([*seen, key])
                raise ConfigurationError(f"provider aliases form a cycle: {chain}")
            seen.append(key)
        return key

    def apply(self, case: Case, key: AggregationKey) -> AggregationKey:
        if key.provider_key in self.aliases:
            return attrs.evolve(key, provider_key=self.aliases[key.provider_key])
        return key

    def reads(self) -> frozenset[str]:
        return frozenset()

    def fingerprint(self) -> str:
        return orjson.dumps(self.aliases, option=orjson.OPT_SORT_KEYS).decode()

    def search_provider_key(self, key: str) -> str:
        return self.aliases.get(key, key)

    def for_rule_set(self, rules: RuleSet) -> KeyRule:
        # Both sides are keyed by the default rules, so they follow them.
        return self if rules == self.rules else ProviderAliases(self.raw, rules)


#: Keys a pipeline remembers (by the values the rules read) before it starts
#: afresh: about 5 MB, in each fetch process. The simulators' 100,000 cases a
#: source have about 8,000 spellings of provider and error code, in 550
#: aggregated cases; the hot ones are back soon after a fresh start.
_KEYS_REMEMBERED = 10_000


def _no_fields(case: Case) -> tuple[()]:
    return ()


def _read_fields(rules: Iterable[KeyRule]) -> Callable[[Case], object] | None:
    """What of a case the rules read (see :meth:`KeyRule.reads`); ``None``: anything."""
    names: set[str] = set()
    for rule in rules:
        fields = rule.reads()
        if fields is None:
            return None
        names |= fields
    return operator.attrgetter(*sorted(names)) if names else _no_fields


class KeyPipeline:
    """Runs the key rules in order; knows the rule-set version they make."""

    def __init__(self, rules: Iterable[KeyRule]) -> None:
        self.rules = tuple(sorted(rules, key=lambda rule: rule.order))
        if not self.rules:
            raise ConfigurationError("no key rule is registered; the default plug-in is missing")
        described = [[r.name, r.version, r.order, r.fingerprint()] for r in self.rules]
        self.version = hashlib.sha256(orjson.dumps(described)).hexdigest()[:16]
        #: The rules in words: ``default@2`` then each further rule, with a
        #: short digest of what configures it (aliases, overrides).
        self.label = ", ".join(
            f"{r.name}@{r.version}"
            + (f" #{hashlib.sha256(f.encode()).hexdigest()[:8]}" if (f := r.fingerprint()) else "")
            for r in self.rules
        )
        defaults = [r.rules for r in self.rules if isinstance(r, DefaultKey)]
        #: The default rule set that builds the key (the current one when a
        #: plug-in replaced the default rule).
        self.rule_set = defaults[0] if defaults else rule_set(None)
        #: The values of the case fields the key depends on, to remember keys
        #: by; ``None`` when a rule may look at any field.
        self._fields = _read_fields(self.rules)
        self._ids: dict[AggregationKey, str] = {}
        self._keys: dict[object, tuple[AggregationKey, str]] = {}

    def __getstate__(self) -> dict[str, object]:
        # Without the memos: a fetch process gets the rules, and another
        # thread may be filling them while they are pickled.
        return {
            name: value for name, value in self.__dict__.items() if name not in {"_ids", "_keys"}
        }

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._ids = {}
        self._keys = {}

    def under(self, rules: RuleSet) -> KeyPipeline:
        """These rules with the default rule set ``rules`` instead of this one's."""
        if rules == self.rule_set:
            return self
        return KeyPipeline(rule.for_rule_set(rules) for rule in self.rules)

    def key_for(self, case: Case) -> AggregationKey:
        """The aggregation key of ``case``."""
        key = AggregationKey(None, None)
        for rule in self.rules:
            key = rule.apply(case, key)
        return key

    def id_for(self, key: AggregationKey) -> str:
        """The aggregated case id of ``key`` (memoized: keys repeat a lot)."""
        found = self._ids.get(key)
        if found is None:
            if len(self._ids) > 200_000:
                self._ids.clear()
            found = self._ids[key] = key.id
        return found

    def keyed(self, case: Case) -> tuple[AggregationKey, str]:
        """The aggregation key of ``case`` and its aggregated case id.

        Remembered by the values of the fields the rules read, when they all
        say which (:meth:`KeyRule.reads`): the default rules read the
        provider and the error code, whose combinations repeat a lot.
        """
        fields = self._fields
        if fields is None:
            key = self.key_for(case)
            return key, self.id_for(key)
        values = fields(case)
        found = self._keys.get(values)
        if found is None:
            if len(self._keys) >= _KEYS_REMEMBERED:
                self._keys.clear()
            key = self.key_for(case)
            found = self._keys[values] = (key, self.id_for(key))
        return found

    def search_provider_key(self, raw: str) -> str | None:
        """The provider key an aggregated case must have to match ``raw``."""
        key = self.rule_set.provider_key(raw)
        if key is None:
            return None
        for rule in self.rules:
            key = rule.search_provider_key(key)
        return key


def spelling_of(case: Case) -> str | None:
    """A case's provider as people typed it, trimmed; ``None`` when empty."""
    if case.provider is None:
        return None
    return case.provider.strip() or None


def display_provider(spellings: Mapping[str, int], provider_key: str | None) -> str | None:
    """The most common spelling, ties broken by the alphabetically first.

    ``None`` when the key has no provider; the key itself when no member has
    a spelling (a plug-in rule may set a provider on cases without one).
    """
    if provider_key is None:
        return None
    best = min(
        ((-count, spelling) for spelling, count in spellings.items() if count > 0),
        default=None,
    )
    return provider_key if best is None else best[1]


@attrs.frozen
class Member:
    """What one case contributes to its aggregated case."""

    agg_id: str
    is_open: bool
    spelling: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


@attrs.define
class _Delta:
    count: int = 0
    open: int = 0
    spellings: collections.Counter[str] = attrs.field(factory=collections.Counter)
    added_min_created: dt.datetime | None = None
    added_max_updated: dt.datetime | None = None
    removed_min_created: dt.datetime | None = None
    removed_max_updated: dt.datetime | None = None
    # Open cases that arrived (new, reopened, or moved in): a fixed one regresses.
    arrived_open: int = 0


def _min(a: dt.datetime | None, b: dt.datetime) -> dt.datetime:
    return b if a is None or b < a else a


def _max(a: dt.datetime | None, b: dt.datetime) -> dt.datetime:
    return b if a is None or b > a else a


class AggregateChanges:
    """What changed cases add to and remove from their aggregated cases.

    Feed it every member that leaves (:meth:`remove`) and joins (:meth:`add`)
    an aggregated case; :func:`apply_changes` then turns the stored rows of
    the touched aggregated cases into their new values.
    """

    def __init__(self) -> None:
        self._deltas: dict[str, _Delta] = {}
        self.keys: dict[str, AggregationKey] = {}

    def __bool__(self) -> bool:
        return bool(self._deltas)

    @property
    def touched(self) -> frozenset[str]:
        """Ids of the aggregated cases these changes touch."""
        return frozenset(self._deltas)

    def _delta(self, agg_id: str) -> _Delta:
        delta = self._deltas.get(agg_id)
        if delta is None:
            delta = self._deltas[agg_id] = _Delta()
        return delta

    @property
    def arrivals(self) -> frozenset[str]:
        """Ids of the aggregated cases that received a new open case (§7 regressions)."""
        return frozenset(agg_id for agg_id, d in self._deltas.items() if d.arrived_open)

    def add(self, member: Member, key: AggregationKey, *, arrived_open: bool = False) -> None:
        """A case joins ``member.agg_id`` (new, or moved in, or updated in place).

        :param arrived_open: the case is open and was not an open member of
            this aggregated case before (new, reopened, or moved in).
        """
        delta = self._delta(member.agg_id)
        delta.arrived_open += arrived_open
        self.keys[member.agg_id] = key
        delta.count += 1
        delta.open += member.is_open
        if member.spelling is not None:
            delta.spellings[member.spelling] += 1
        delta.added_min_created = _min(delta.added_min_created, member.created_at)
        delta.added_max_updated = _max(delta.added_max_updated, member.updated_at)

    def add_new(self, rows: Iterable[CaseRow], keys: Mapping[str, AggregationKey]) -> None:
        """Cases new to the store join their aggregated cases: :meth:`add` of each
        row's member, arrived open when open.

        One loop over the rows, no :class:`Member` each: it runs for every case of a
        first load.

        :param keys: the aggregation key of every ``agg_id`` among ``rows``.
        """
        deltas = self._deltas
        known = self.keys
        for row in rows:
            agg_id = row[AGG_ID]
            delta = deltas.get(agg_id)
            if delta is None:
                delta = deltas[agg_id] = _Delta()
            if agg_id not in known:
                known[agg_id] = keys[agg_id]
            is_open = bool(row[IS_OPEN])
            delta.count += 1
            delta.open += is_open
            delta.arrived_open += is_open
            provider = row[PROVIDER]
            if provider is not None and (spelling := provider.strip()):
                delta.spellings[spelling] += 1
            created, updated = row[CREATED_AT], row[UPDATED_AT]
            if delta.added_min_created is None or created < delta.added_min_created:
                delta.added_min_created = created
            if delta.added_max_updated is None or updated > delta.added_max_updated:
                delta.added_max_updated = updated

    def remove(self, member: Member) -> None:
        """A case leaves ``member.agg_id`` (deleted, moved out, or before an update)."""
        delta = self._delta(member.agg_id)
        delta.count -= 1
        delta.open -= member.is_open
        if member.spelling is not None:
            delta.spellings[member.spelling] -= 1
        delta.removed_min_created = _min(delta.removed_min_created, member.created_at)
        delta.removed_max_updated = _max(delta.removed_max_updated, member.updated_at)

    def merge(self, other: AggregateChanges) -> None:
        """Fold ``other`` (one source's changes) into these."""
        for agg_id, theirs in other._deltas.items():
            ours = self._delta(agg_id)
            ours.count += theirs.count
            ours.open += theirs.open
            ours.spellings.update(theirs.spellings)
            ours.arrived_open += theirs.arrived_open
            for name, pick in (
                ("added_min_created", _min),
                ("added_max_updated", _max),
                ("removed_min_created", _min),
                ("removed_max_updated", _max),
            ):
                value = getattr(theirs, name)
                if value is not None:
                    setattr(ours, name, pick(getattr(ours, name), value))
        self.keys.update(other.keys)


@attrs.frozen
class AppliedChanges:
    """The result of :func:`apply_changes`: rows to write and ids to delete.

    :ivar spellings: new spelling counts per touched aggregated case id
        (zero counts removed).
    """

    rows: tuple[AggregateRow, ...]
    deleted: frozenset[str]
    spellings: Mapping[str, Mapping[str, int]]


def apply_changes(
    changes: AggregateChanges,
    current: Mapping[str, AggregateRow],
    spellings: Mapping[str, Mapping[str, int]],
    bounds: Callable[[str], tuple[dt.datetime, dt.datetime]],
    *,
    rules_version: str,
    now: dt.datetime,
) -> AppliedChanges:
    """Compute the new rows of the aggregated cases ``changes`` touch.

    :param current: the stored rows of the touched ids (absent: new).
    :param spellings: the stored spelling counts of the touched ids.
    :param bounds: ``(first created, last updated)`` of an aggregated case's
        members as stored now; asked only when a member that held a bound left.
    :param now: when this refresh started: a new key is first seen now, a
        closed one that opens again regressed now.
    """
    rows: list[AggregateRow] = []
    deleted: set[str] = set()
    new_spellings: dict[str, dict[str, int]] = {}
    for agg_id, delta in changes._deltas.items():
        row = current.get(agg_id)
        count = delta.count + (row.case_count if row else 0)
        if count < 0:
            raise AssertionError(f"aggregated case {agg_id} would hold {count} cases")
        counts = collections.Counter(spellings.get(agg_id, {}))
        counts.update(delta.spellings)
        new_spellings[agg_id] = {s: n for s, n in counts.items() if n > 0}
        if count == 0:
            deleted.add(agg_id)
            continue
        first, last = _bounds(row, delta, functools.partial(bounds, agg_id))
        if row is None:
            key = changes.keys[agg_id]
            row = AggregateRow(
                id=agg_id,
                provider_key=key.provider_key,
                error_code_key=key.error_code_key,
                key_extra=key.extra,
                provider=None,
                case_count=0,
                open_case_count=0,
                first_created_at=first,
                last_updated_at=last,
                rules_version=rules_version,
                first_seen_at=now,
            )
        open_count = row.open_case_count + delta.open
        rows.append(
            attrs.evolve(
                row,
                provider=display_provider(new_spellings[agg_id], row.provider_key),
                case_count=count,
                open_case_count=open_count,
                first_created_at=first,
                last_updated_at=last,
                rules_version=rules_version,
                regressed_at=_regressed_at(row, open_count, now),
            )
        )
    return AppliedChanges(tuple(rows), frozenset(deleted), new_spellings)


def _regressed_at(row: AggregateRow, open_count: int, now: dt.datetime) -> dt.datetime | None:
    """Lifecycle: closed → open is a regression; closing clears it."""
    if open_count == 0:
        return None
    if row.open_case_count == 0 and row.case_count > 0:
        return now
    return row.regressed_at


def _bounds(
    row: AggregateRow | None,
    delta: _Delta,
    lookup: Callable[[], tuple[dt.datetime, dt.datetime]],
) -> tuple[dt.datetime, dt.datetime]:
    firsts = [] if row is None else [row.first_created_at]
    lasts = [] if row is None else [row.last_updated_at]
    if delta.added_min_created is not None and delta.added_max_updated is not None:
        firsts.append(delta.added_min_created)
        lasts.append(delta.added_max_updated)
    first, last = min(firsts), max(lasts)
    # A member that left may have held a bound (the stored one, or one that
    # joined and left within these changes): then only the store knows.
    if (delta.removed_min_created is not None and delta.removed_min_created <= first) or (
        delta.removed_max_updated is not None and delta.removed_max_updated >= last
    ):
        return lookup()
    return first, last


def consolidate(cases: Iterable[Case], pipeline: KeyPipeline) -> dict[str, AggregatedCase]:
    """Consolidate ``cases`` from scratch: the reference the incremental path must equal.

    Members are embedded most recently updated first (ties: source, then id,
    both descending, the order the store's index gives).
    """
    groups: dict[str, list[Case]] = collections.defaultdict(list)
    keys: dict[str, AggregationKey] = {}
    for case in cases:
        key, agg_id = pipeline.keyed(case)
        keys[agg_id] = key
        groups[agg_id].append(case)
    result = {}
    for agg_id, members in groups.items():
        key = keys[agg_id]
        spellings = collections.Counter(s for s in map(spelling_of, members) if s is not None)
        members.sort(key=lambda c: (c.updated_at, c.source, c.source_id), reverse=True)
        open_count = sum(c.is_open for c in members)
        result[agg_id] = AggregatedCase(
            id=agg_id,
            provider=display_provider(spellings, key.provider_key),
            error_code=key.error_code_key,
            status=Status.OPEN if open_count else Status.CLOSED,
            case_count=len(members),
            open_case_count=open_count,
            first_created_at=min(c.created_at for c in members),
            last_updated_at=max(c.updated_at for c in members),
            cases=tuple(members),
            provider_key=key.provider_key,
            rules_version=pipeline.version,
        )
    return result

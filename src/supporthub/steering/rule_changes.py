"""Operators steer the grouping: overrides made, previewed, applied, undone.

Every change to the overrides goes the same way: build the candidate rule
set, plan the regroup of all stored cases under it (the :class:`ReplayDiff`),
and, unless it is a dry run, write the override and the regroup in one
transaction under the refresh lock. A preview and the change it previews run
the same plan, so what the preview shows is what applying does.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence

import attrs

from supporthub.grouping.consolidate import KeyPipeline
from supporthub.grouping.normalize import MAX_KEY_LENGTH, provider_key
from supporthub.grouping.overrides import CaseRef, Override, OverrideKind, encode_part
from supporthub.grouping.replay import ReplayDiff, plan_regroup
from supporthub.ingest.regroup import regroup
from supporthub.query.listing import Query
from supporthub.store import outbox
from supporthub.store.base import Store, StoreReader
from supporthub.store.conflicts import retry_conflicts
from supporthub.vocabulary.errors import InvalidQuery, NotFound
from supporthub.vocabulary.models import AggregationKey

__all__ = ["MAX_REASON", "MAX_WHO", "RuleChange", "Steering"]

#: The longest "why" kept with an override.
MAX_REASON = 1000
#: The longest "who": the width of the column that keeps it.
MAX_WHO = 255


@attrs.frozen
class RuleChange:
    """What a change to the rules did, or would do in a dry run.

    :ivar overrides: the overrides made (with their ids once applied).
    :ivar removed: ids of the overrides undone.
    """

    diff: ReplayDiff
    applied: bool
    overrides: tuple[Override, ...] = ()
    removed: tuple[int, ...] = ()


def _words(name: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise InvalidQuery(f"{name} is required: say who you are and why")
    if len(value) > limit:
        raise InvalidQuery(f"{name} is longer than {limit} characters")
    return value


class Steering:
    """Makes, previews and undoes overrides for one hub."""

    def __init__(
        self,
        store: Store,
        pipeline_with: Callable[[Sequence[Override], str | None], KeyPipeline],
        clock: Callable[[], dt.datetime],
        unwritable: Callable[[str], str | None] = lambda source: None,
    ) -> None:
        self.store = store
        self.pipeline_with = pipeline_with
        self.clock = clock
        self.unwritable = unwritable

    # -- building overrides ----------------------------------------------------

    def _key_of(self, reader: StoreReader, agg_id: str) -> AggregationKey:
        row = reader.get(agg_id)
        if row is None:
            raise NotFound(f"no aggregated case has the id {agg_id[:100]!r}")
        return AggregationKey(row.provider_key, row.error_code_key, row.key_extra)

    def _new(
        self, kind: OverrideKind, subject: object, target: object, by: str, reason: str
    ) -> Override:
        return Override(
            id=None,
            kind=kind,
            subject=subject,  # type: ignore[arg-type]
            target=target,  # type: ignore[arg-type]
            created_at=self.clock(),
            created_by=_words("who", by, MAX_WHO),
            reason=_words("why", reason, MAX_REASON),
        )

    def merge(
        self, reader: StoreReader, from_id: str, into_id: str, by: str, reason: str
    ) -> Override:
        """An override that sends every case of ``from_id``'s key to ``into_id``'s."""
        if from_id == into_id:
            raise InvalidQuery("an aggregated case cannot be merged into itself")
        subject, target = self._key_of(reader, from_id), self._key_of(reader, into_id)
        return self._new(OverrideKind.MERGE, subject, target, by, reason)

    def move(
        self,
        reader: StoreReader,
        case: CaseRef,
        into: str | AggregationKey | None,
        by: str,
        reason: str,
    ) -> Override:
        """An override that sends one case elsewhere.

        :param into: an aggregated case id, a key (a group of its own), or
            ``None`` for an aggregated case of the case's own.
        """
        found = reader.case(case.source, case.source_id)
        if found is None:
            raise NotFound(f"no case {case.source}/{case.source_id[:100]} is stored")
        current_id, _ = found
        if into is None:
            key = self._key_of(reader, current_id)
            target = attrs.evolve(
                key, extra=(*key.extra, ("case", f"{case.source}/{case.source_id}"))
            )
        elif isinstance(into, AggregationKey):
            target = into
        else:
            if into == current_id:
                raise InvalidQuery("the case is in that aggregated case already")
            target = self._key_of(reader, into)
        return self._new(OverrideKind.MOVE, case, target, by, reason)

    def new_group(
        self, reader: StoreReader, members: Sequence[CaseRef], label: str
    ) -> AggregationKey:
        """The key of a new aggregated case for ``members``: their provider if they share one."""
        providers = set()
        for ref in members:
            found = reader.case(ref.source, ref.source_id)
            if found is None:
                raise NotFound(f"no case {ref.source}/{ref.source_id[:100]} is stored")
            providers.add(self._key_of(reader, found[0]).provider_key)
        shared = providers.pop() if len(providers) == 1 else None
        return AggregationKey(shared, None, (("group", label),))

    def alias(
        self,
        spelling: str,
        provider: str,
        by: str,
        reason: str,
        key: Callable[[str | None], str | None] = provider_key,
    ) -> Override:
        """An override that makes a provider spelling mean another provider.

        :param key: the provider key of the rule set the database is grouped by.
        """
        subject, target = key(spelling), key(provider)
        if subject is None or target is None:
            raise InvalidQuery("both the spelling and the provider need letters or digits")
        if subject == target:
            raise InvalidQuery(f"{spelling!r} and {provider!r} have the same provider key already")
        if len(target) > MAX_KEY_LENGTH:
            # NFKC can expand a short spelling far beyond what a key column holds.
            raise InvalidQuery(f"the provider's key is longer than {MAX_KEY_LENGTH} characters")
        return self._new(OverrideKind.ALIAS, subject, target, by, reason)

    # -- previewing and applying -----------------------------------------------

    @staticmethod
    def _candidate(
        current: Sequence[Override], add: Sequence[Override], remove: Sequence[int]
    ) -> list[Override]:
        active = {o.id for o in current}
        for override_id in remove:
            if override_id not in active:
                raise NotFound(f"no active override has the id {override_id}")
        return [o for o in current if o.id not in set(remove)] + list(add)

    def preview(
        self, reader: StoreReader, add: Sequence[Override] = (), remove: Sequence[int] = ()
    ) -> ReplayDiff:
        """What regrouping all stored cases under the changed rules would do."""
        candidate = self._candidate(reader.overrides(), add, remove)
        pipeline = self.pipeline_with(candidate, reader.default_rules())
        existing = [row.id for row in reader.iter_rows(Query())]
        return plan_regroup(reader.iter_all_cases(), existing, pipeline).diff

    def apply(
        self,
        add: Sequence[Override] = (),
        remove: Sequence[int] = (),
        *,
        by: str = "",
        timeout: float | None = 60.0,
        build: Callable[[StoreReader], Sequence[Override]] | None = None,
    ) -> RuleChange:
        """Store the change and regroup every stored case, in one transaction.

        :param build: makes more overrides to add from the state under the
            lock, so that two processes making the same one at once (on one
            server or on two cluster nodes) act one after the other: the
            second finds it made (and raises as it would have then).
        :raises RefreshInProgress: a refresh held the lock longer than ``timeout``.
        """
        now = self.clock()

        def change() -> RuleChange:
            with self.store.writer() as writer:
                current = writer.overrides()
                wanted = [*add, *(build(writer) if build is not None else ())]
                # An override already in force is not made again: the same one
                # asked for twice (twice at once, or from two nodes) is stored once.
                in_force = [_in_force(o, current, remove) for o in wanted]
                adding = [o for o, found in zip(wanted, in_force, strict=True) if found is None]
                candidate = self._candidate(current, adding, remove)
                # Refuses cycles, in words.
                pipeline = self.pipeline_with(candidate, writer.default_rules())
                removed = []
                for override_id in remove:
                    writer.remove_override(override_id, by=_words("who", by, MAX_WHO), at=now)
                    removed.append(override_id)
                stored = iter([attrs.evolve(o, id=writer.add_override(o)) for o in adding])
                made = [found or next(stored) for found in in_force]
                diff = regroup(writer, pipeline, now)
                # Replies follow their cases to their new aggregated cases.
                outbox.after_membership_change(writer.connection, None, self.unwritable, now)
            return RuleChange(
                diff=diff, applied=True, overrides=tuple(made), removed=tuple(removed)
            )

        with self.store.refresh_lock(timeout):
            # On Galera a writer outside the lock on another node may win the
            # commit (certification): nothing was written; run it again.
            return retry_conflicts(change, what="the rule change")


def _in_force(
    override: Override, current: Sequence[Override], remove: Sequence[int]
) -> Override | None:
    """The active override (not being removed) that does what ``override`` does, if any."""
    for active in current:
        if (
            active.id not in remove
            and active.kind is override.kind
            and encode_part(active.kind, active.subject)
            == encode_part(override.kind, override.subject)
            and encode_part(active.kind, active.target)
            == encode_part(override.kind, override.target)
        ):
            return active
    return None

"""Suggestions for operators: what is probably the same, for a person to confirm.

Nothing here changes the grouping; accepting a suggestion makes an ordinary
override (an alias, or moves), which can be previewed and undone.

- **Aliases.** What the grouping rules (``docs/grouping.md``) cannot decide:
  provider keys one typo apart (a dropped, added, changed or swapped letter:
  optimal-string-alignment distance, through RapidFuzz; two in keys of 16
  characters or more), the same words in another order (``payments acme``),
  and near-misses across scripts (``globex`` typed with a Cyrillic o:
  compared by their *skeleton*, with look-alike letters read as Latin).
  The rarer spelling is proposed as an alias of the more common one. Keys
  whose numbers differ (``Vendor 01``, ``Vendor 02``) are never proposed: a
  number usually names a different branch or product.
- **Groups.** Cases without an error code whose subjects are near-duplicates
  (RapidFuzz token-set ratio) are proposed as one aggregated case: into the
  aggregated case with an error code of the same provider whose subjects
  they resemble, or together into one of their own (unless they are exactly
  one aggregated case already, as after accepting such a suggestion).
"""

from __future__ import annotations

import collections
import hashlib
import re
from collections.abc import Callable, Sequence

import attrs
import orjson

from supporthub.grouping.overrides import CaseRef
from supporthub.query.listing import Query
from supporthub.store.base import StoreReader
from supporthub.vocabulary.models import Case

__all__ = ["AliasSuggestion", "GroupSuggestion", "Suggestions", "suggest"]

#: Shortest provider key considered: short names are too often different.
_MIN_KEY_LENGTH = 5
#: Token-set similarity (0-100) above which two subjects are near-duplicates.
_SUBJECT_SIMILARITY = 90.0
#: Cases without an error code considered, most recently updated first.
_MAX_UNCODED = 5000
#: Member subjects sampled per aggregated case with an error code.
_SAMPLE = 30
#: Fewest cases a group suggestion must hold.
_MIN_GROUP = 2


def _suggestion_id(kind: str, payload: object) -> str:
    return kind + "-" + hashlib.sha256(orjson.dumps(payload)).hexdigest()[:16]


@attrs.frozen
class AliasSuggestion:
    """Provider key :attr:`spelling` is probably :attr:`provider`.

    :ivar spelling: a provider key…
    :ivar provider: …that probably means this one.
    :ivar score: similarity, 0-100.
    :ivar case_count: cases filed under the spelling.
    """

    id: str
    spelling: str
    provider: str
    score: float
    case_count: int


@attrs.frozen
class GroupSuggestion:
    """These cases without an error code probably share one problem.

    :ivar into_id: the aggregated case they resemble, or ``None`` for a new one.
    :ivar subject: a representative subject.
    """

    id: str
    cases: tuple[CaseRef, ...]
    into_id: str | None
    subject: str
    score: float


_DIGITS = re.compile(r"[0-9]+")


def _numbers(key: str) -> list[str]:
    """The runs of digits in a key: ``vendor 01`` and ``vendor 02`` are two vendors."""
    return _DIGITS.findall(key)


def _max_distance(length: int) -> int:
    return 1 if length < 16 else 2


# Lower-case letters of other scripts that look like Latin ones (a subset of
# Unicode's confusables: the ones keyboards and OCR actually slip in).
_LOOK_ALIKES = str.maketrans(
    {
        # Cyrillic
        "\u0430": "a",
        "\u0432": "b",
        "\u0435": "e",
        "\u0456": "i",
        "\u0458": "j",
        "\u043a": "k",
        "\u043c": "m",
        "\u043d": "h",
        "\u043e": "o",
        "\u0440": "p",
        "\u0441": "c",
        "\u0442": "t",
        "\u0443": "y",
        "\u0445": "x",
        "\u0455": "s",
        "\u04bb": "h",
        "\u0501": "d",
        "\u04cf": "l",
        # Greek
        "\u03b1": "a",
        "\u03b9": "i",
        "\u03ba": "k",
        "\u03bd": "v",
        "\u03bf": "o",
        "\u03c1": "p",
        "\u03c5": "u",
        "\u03c7": "x",
    }
)


def _skeleton(key: str) -> str:
    """The key with look-alike letters of other scripts read as Latin ones."""
    return key.translate(_LOOK_ALIKES)


@attrs.frozen
class _Shape:
    """What alias suggestions compare of a provider key, computed once per key."""

    skeleton: str
    words: tuple[str, ...]
    numbers: tuple[str, ...]

    @classmethod
    def of(cls, key: str) -> _Shape:
        skeleton = _skeleton(key)
        return cls(skeleton, tuple(sorted(skeleton.split())), tuple(sorted(_numbers(key))))


def _probably_same(left: _Shape, right: _Shape, distance: Callable[..., int]) -> bool:
    """Whether two provider keys are probably one provider (see the module doc)."""
    # Numbers name things (a branch, a region, a product line): a different
    # number is a different provider, however close the rest.
    if left.numbers != right.numbers:
        return False
    if left.words == right.words:
        return True  # look-alike letters, or the same words in another order
    limit = _max_distance(max(len(left.skeleton), len(right.skeleton)))
    if abs(len(left.skeleton) - len(right.skeleton)) > limit:
        return False
    return distance(left.skeleton, right.skeleton, score_cutoff=limit) <= limit


def suggest_aliases(reader: StoreReader) -> list[AliasSuggestion]:
    """Provider keys that probably name a more common one."""
    from rapidfuzz.distance import OSA  # noqa: PLC0415 - only suggestions need it
    from rapidfuzz.fuzz import token_sort_ratio  # noqa: PLC0415

    counts: collections.Counter[str] = collections.Counter()
    for row in reader.iter_rows(Query()):
        if row.provider_key is not None:
            counts[row.provider_key] += row.case_count
    keys = sorted(k for k in counts if len(k) >= _MIN_KEY_LENGTH)
    shapes = {key: _Shape.of(key) for key in keys}
    found = []
    for i, left in enumerate(keys):
        for right in keys[i + 1 :]:
            if not _probably_same(shapes[left], shapes[right], OSA.distance):
                continue
            # The rarer spelling means the more common one (ties: by key).
            rare, common = sorted((left, right), key=lambda k: (counts[k], k))
            found.append(
                AliasSuggestion(
                    id=_suggestion_id("alias", [rare, common]),
                    spelling=rare,
                    provider=common,
                    score=round(token_sort_ratio(shapes[left].skeleton, shapes[right].skeleton), 1),
                    case_count=counts[rare],
                )
            )
    return sorted(found, key=lambda s: (-s.case_count, s.spelling))


def _clusters(subjects: Sequence[str]) -> list[list[int]]:
    """Indexes of near-duplicate subjects, grouped (single linkage).

    Equal subjects (ignoring case and spacing) are bucketed first, so only
    the distinct ones are compared with each other.
    """
    from rapidfuzz import process  # noqa: PLC0415
    from rapidfuzz.fuzz import token_set_ratio  # noqa: PLC0415

    buckets: dict[str, list[int]] = collections.defaultdict(list)
    for index, subject in enumerate(subjects):
        buckets[" ".join(subject.casefold().split())].append(index)
    distinct = list(buckets)
    parent = list(range(len(distinct)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, subject in enumerate(distinct):
        later = distinct[i + 1 :]
        for _, _, offset in process.extract(
            subject, later, scorer=token_set_ratio, score_cutoff=_SUBJECT_SIMILARITY, limit=None
        ):
            parent[root(i + 1 + offset)] = root(i)
    groups: dict[int, list[int]] = collections.defaultdict(list)
    for i, subject in enumerate(distinct):
        groups[root(i)].extend(buckets[subject])
    return list(groups.values())


def _collect(
    reader: StoreReader,
) -> tuple[
    list[tuple[str | None, str, Case]], dict[str | None, list[tuple[str, str]]], dict[str, int]
]:
    """Uncoded cases with their provider key and aggregated case id; sampled subjects
    of coded aggregated cases; the size of each uncoded aggregated case."""
    uncoded: list[tuple[str | None, str, Case]] = []
    coded: dict[str | None, list[tuple[str, str]]] = collections.defaultdict(list)
    sizes: dict[str, int] = {}
    for row in reader.iter_rows(Query()):
        if len(uncoded) >= _MAX_UNCODED:
            break
        if row.error_code_key is None:
            limit = _MAX_UNCODED - len(uncoded)
            sizes[row.id] = row.case_count
            uncoded.extend(
                (row.provider_key, row.id, case)
                for case in reader.iter_cases(row.id, limit=limit)
                if case.subject
            )
        elif row.provider_key is not None:
            coded[row.provider_key].extend(
                (row.id, case.subject)
                for case in reader.iter_cases(row.id, limit=_SAMPLE)
                if case.subject
            )
    return uncoded, coded, sizes


def _refs(cases: Sequence[Case]) -> tuple[CaseRef, ...]:
    return tuple(sorted(CaseRef(c.source, c.source_id) for c in cases))


def _group(
    refs: tuple[CaseRef, ...], into_id: str | None, subject: str, score: float
) -> GroupSuggestion:
    payload = [into_id, [[r.source, r.source_id] for r in refs]]
    return GroupSuggestion(_suggestion_id("group", payload), refs, into_id, subject, score)


def suggest_groups(reader: StoreReader) -> list[GroupSuggestion]:
    """Near-duplicate cases without an error code, and where they could go."""
    from rapidfuzz import process  # noqa: PLC0415
    from rapidfuzz.fuzz import token_set_ratio  # noqa: PLC0415

    uncoded, coded, sizes = _collect(reader)
    leftover: list[Case] = []
    homes: dict[tuple[str, str], str] = {}
    by_target: dict[str, list[tuple[Case, float]]] = collections.defaultdict(list)
    for provider, home, case in uncoded:
        homes[case.source, case.source_id] = home
        candidates = coded.get(provider, [])
        best = process.extractOne(
            str(case.subject),
            [subject for _, subject in candidates],
            scorer=token_set_ratio,
            score_cutoff=_SUBJECT_SIMILARITY,
        )
        if best is None:
            leftover.append(case)
        else:
            by_target[candidates[best[2]][0]].append((case, float(best[1])))

    found = [
        _group(
            _refs([case for case, _ in members]),
            target,
            str(members[0][0].subject),
            round(min(score for _, score in members), 1),
        )
        for target, members in sorted(by_target.items())
        if len(members) >= _MIN_GROUP
    ]
    subjects = [str(case.subject) for case in leftover]

    def grouped_already(cluster: list[int]) -> bool:
        # The cluster is exactly one aggregated case (an accepted suggestion, say).
        home = {homes[leftover[i].source, leftover[i].source_id] for i in cluster}
        return len(home) == 1 and sizes[home.pop()] == len(cluster)

    found.extend(
        _group(
            _refs([leftover[i] for i in cluster]), None, subjects[cluster[0]], _SUBJECT_SIMILARITY
        )
        for cluster in (_clusters(subjects) if subjects else [])
        if len(cluster) >= _MIN_GROUP and not grouped_already(cluster)
    )
    return sorted(found, key=lambda s: (-len(s.cases), s.id))


@attrs.frozen
class Suggestions:
    """Everything the hub suggests now."""

    aliases: tuple[AliasSuggestion, ...]
    groups: tuple[GroupSuggestion, ...]

    def by_id(self, suggestion_id: str) -> AliasSuggestion | GroupSuggestion | None:
        """The suggestion with this id, if it is still suggested."""
        everything: list[AliasSuggestion | GroupSuggestion] = [*self.aliases, *self.groups]
        return next((s for s in everything if s.id == suggestion_id), None)


def suggest(reader: StoreReader) -> tuple[list[AliasSuggestion], list[GroupSuggestion]]:
    """Every suggestion for the grouping as stored now."""
    return suggest_aliases(reader), suggest_groups(reader)

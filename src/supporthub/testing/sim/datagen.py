"""A seeded, CRM-neutral generator of realistic support cases.

The generator yields :class:`CaseSpec` objects: what a case *is* (who it is
about, which error, open or not, when) without any CRM's JSON shape. Each
simulator renders a spec in its own dialect (Banana's ``Provider__c`` and
``E-1042``, Strawberry's custom fields and raw ``1042``).

What the data is built to exercise (hub contract §3):

* **Skew.** Cases are spread over (provider, error code) pairs with Zipf
  weights, so a few aggregated cases are big and most are small.
* **Spelling variants** that the hub's provider key must fold together:
  case, punctuation, legal suffixes (``Inc.``, ``, Inc.``, ``LLC``, ``GmbH``,
  ``Ltd``), surrounding whitespace, hyphens and underscores. Error codes come
  canonical (``1042``, ``AUTH_FAILED``); :func:`typed_error_code` renders the
  raw variants agents type (`` 1042 ``, ``auth_failed``).
* **Nulls**: no provider, no error code, or neither.
* **Unicode** in subjects, descriptions, names and a few provider names.
* **Planted misspellings**: a few providers get one variant each that the
  grouping rules cannot fold, so its provider key differs from the canonical
  one: a typo (``Acme Paymnts``), two typos in a long name (``Prestige
  Wordwide Paymetns``), the words in another order (``Payments Acme``), or
  look-alike letters of another script (``Globex Pay`` typed with a Cyrillic
  o and e). They are the ground truth an alias suggester is measured
  against: :meth:`CaseGenerator.planted_misspellings`.

Everything is deterministic for a seed (and an anchor time): the same seed
yields the same specs, in the same order, on every machine. Specs are made
lazily, one at a time, so a million of them never sit in memory together.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from itertools import accumulate
from typing import Final

import attrs

from supporthub import provider_key  # the core's grouping rule, not a copy
from supporthub.testing.sim import _vocabulary as vocab

__all__ = [
    "DEFAULT_ANCHOR",
    "MIN_N_FOR_ALL_MISSPELLINGS",
    "CaseGenerator",
    "CaseSpec",
    "generate_cases",
    "ms_to_datetime",
    "typed_error_code",
]

#: The default "now" of generated data: every generated timestamp lies before
#: it. Fixed rather than the wall clock so that a seed always means the same
#: data.
DEFAULT_ANCHOR: Final = datetime(2026, 11, 20, 12, 0, 0, tzinfo=UTC)

#: From this many specs on, every planted misspelling occurs at least once.
MIN_N_FOR_ALL_MISSPELLINGS: Final = 200

_ZIPF_EXPONENT: Final = 1.0
_MISSPELLED_PROVIDER_COUNT: Final = 5
# Near-misses planted besides the typos, per kind (see _near_miss).
_NEAR_MISS_KINDS: Final = ("word order", "long typo", "script")
_NEAR_MISSES_PER_KIND: Final = 3
#: A key at least this long may carry two typos (the suggester allows two).
_LONG_KEY: Final = 16
_MISSPELLING_SHARE: Final = 0.08  # of the cases of a provider that has a typo
_NO_PROVIDER: Final = 0.05
_NO_ERROR_CODE: Final = 0.07
_NEITHER: Final = 0.015
_OPEN_SHARE: Final = 0.3
_CUSTOM_STATUS_SHARE: Final = 0.08
_BULK_UPDATE_SHARE: Final = 0.02  # cases touched by one of a few mass updates
_LONG_DESCRIPTION_SHARE: Final = 0.0002
_DAY_MS: Final = 86_400_000

# A bound random.random: drawing through it saves an attribute lookup per draw.
_Random = Callable[[], float]

# Provider spelling variants and how often agents type each. The ones that
# add a legal suffix are expanded per suffix below.
_CANONICAL, _UPPER, _LOWER, _SUFFIX, _UPPER_SUFFIX, _PADDED = range(6)
_HYPHENATED, _UNDERSCORED, _TRAILING_DOT, _DOUBLE_SPACE = range(6, 10)
_VARIANT_WEIGHTS: Final[tuple[tuple[int, float], ...]] = (
    (_CANONICAL, 45.0),
    (_UPPER, 10.0),
    (_LOWER, 10.0),
    (_SUFFIX, 15.0),
    (_UPPER_SUFFIX, 3.0),
    (_PADDED, 5.0),
    (_HYPHENATED, 4.0),
    (_UNDERSCORED, 4.0),
    (_TRAILING_DOT, 2.0),
    (_DOUBLE_SPACE, 2.0),
)

# Error code spellings agents type into a free-text field.
_CODE_AS_IS, _CODE_PADDED, _CODE_LOWER = range(3)
_CODE_STYLE_CUM: Final = (0.7, 0.85, 1.0)

_PRIORITY_CUM: Final = (0.05, 0.33, 0.71, 0.90, 1.0)  # None, then rank 0..3


@attrs.frozen(slots=True)
class CaseSpec:
    """One support case, independent of any CRM's JSON shape.

    Simulators turn a spec into their own record; tests compare what came out
    of a CRM with the spec's ground truth (``provider_canonical``).
    Timestamps are integer milliseconds since the Unix epoch, UTC, because a
    million of them are cheaper as ints; :attr:`created_at` and
    :attr:`updated_at` give them as datetimes.
    """

    seq: int
    """Position in generation order; simulators derive record ids from it."""
    provider: str | None
    """The provider as an agent typed it (any spelling variant, maybe a typo)."""
    provider_canonical: str | None
    """The provider meant, spelled canonically: the ground truth."""
    error_code: str | None
    """The canonical error code, ``1042`` or ``AUTH_FAILED``."""
    error_code_style: int
    """Which raw spelling a free-text CRM shows; see :func:`typed_error_code`."""
    subject: str | None
    description: str | None
    is_open: bool
    status_choice: int
    """A number in [0, 1000) a simulator uses to pick a status of the right openness."""
    custom_status: bool
    """Whether the case sits in a tenant-specific status (CRMs that have them)."""
    priority_rank: int | None
    """0 (lowest) to 3 (most urgent), or None."""
    created_ms: int
    updated_ms: int
    contact_name: str | None
    contact_email: str | None
    """Personal data, fake but shaped like the real thing: never log it."""
    channel: int | None
    """Index of the origin channel (e-mail, phone, web, chat, API) or None."""
    topic: str
    quirks: int
    """32 random bits for cosmetic choices a CRM dialect makes (extra fields, null shapes)."""

    @property
    def created_at(self) -> datetime:
        """:attr:`created_ms` as an aware UTC datetime."""
        return ms_to_datetime(self.created_ms)

    @property
    def updated_at(self) -> datetime:
        """:attr:`updated_ms` as an aware UTC datetime."""
        return ms_to_datetime(self.updated_ms)


def ms_to_datetime(ms: int) -> datetime:
    """Turn epoch milliseconds into an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def typed_error_code(code: str, style: int) -> str:
    """Spell a canonical error code the way an agent types it into a text field.

    Style 0 keeps it (``1042``), 1 pads it with spaces (`` 1042 ``), 2
    lowercases it (``auth_failed``). All of them share the hub's error code
    key with the canonical code.
    """
    if style == _CODE_PADDED:
        return f" {code} "
    if style == _CODE_LOWER:
        return code.lower()
    return code


class CaseGenerator:
    """Deterministic source of :class:`CaseSpec` objects for one seed.

    The catalogue (which provider has which error codes, how popular each
    pair is, which providers got a planted typo) is fixed by the seed. Specs
    are drawn from it lazily by :meth:`specs`; :meth:`new_spec` draws one
    more for a simulator that adds cases at run time.
    """

    def __init__(
        self,
        seed: int = 1,
        *,
        anchor: datetime = DEFAULT_ANCHOR,
        span_days: int = 180,
    ) -> None:
        """Build the catalogue for ``seed``.

        :param seed: the same seed always yields the same specs.
        :param anchor: every generated timestamp lies before this moment.
        :param span_days: how far back cases were created.
        """
        if anchor.tzinfo is None:
            raise ValueError("anchor must be timezone-aware")
        self.seed = seed
        self.anchor_ms = int(anchor.timestamp() * 1000)
        self._span_ms = span_days * _DAY_MS
        # A separate stream for the catalogue, so drawing specs never shifts it.
        catalogue_rng = random.Random(f"supporthub-sim-catalogue-{seed}")  # noqa: S311 (test data)
        self.error_codes: tuple[str, ...] = vocab.NUMERIC_ERROR_CODES + vocab.SYMBOLIC_ERROR_CODES
        self.providers: tuple[str, ...] = vocab.PROVIDERS
        self._pairs, self._pair_cum = _zipf_pairs(
            catalogue_rng, len(self.providers), len(self.error_codes)
        )
        self._variant_kinds, self._variant_cum = _variant_table()
        self._spellings = [
            [_spell(name, kind, suffix) for kind, suffix in self._variant_kinds]
            for name in self.providers
        ]
        self._misspelling_of = self._plant_misspellings(catalogue_rng)
        # Their own stream, so the typos (and everything after) stay as they were.
        self._misspelling_of.update(
            self._plant_near_misses(random.Random(f"supporthub-sim-near-misses-{seed}"))  # noqa: S311
        )
        self._forced_misspelling = {
            10 + 13 * index: provider for index, provider in enumerate(sorted(self._misspelling_of))
        }
        self._codes_of_provider: dict[int, list[int]] = {}
        for provider, code in self._pairs:
            self._codes_of_provider.setdefault(provider, []).append(code)
        self._descriptions = _description_pool(catalogue_rng)
        self._bulk_instants = sorted(
            self.anchor_ms - catalogue_rng.randrange(1, 30 * _DAY_MS) // 1000 * 1000
            for _ in range(12)
        )

    def planted_misspellings(self) -> dict[str, str]:
        """Map each planted misspelling to the canonical provider it means.

        The ground truth for measuring an alias suggester: every key is used,
        spelled exactly so, by some generated cases (by all runs of at least
        :data:`MIN_N_FOR_ALL_MISSPELLINGS` specs), and its provider key
        differs from every canonical provider's key.
        """
        return {typo: self.providers[provider] for provider, typo in self._misspelling_of.items()}

    def specs(self, n: int) -> Iterator[CaseSpec]:
        """Yield specs ``0 .. n-1``, deterministically for this generator's seed."""
        rng = random.Random(self.seed)  # noqa: S311 (test data, not secrets)
        for seq in range(n):
            yield self._draw(seq, rng)

    def new_spec(self, seq: int, rng: random.Random, at_ms: int) -> CaseSpec:
        """Draw one more spec, a case just opened at ``at_ms``.

        For simulators that add cases while running; ``rng`` is the caller's,
        so additions are as reproducible as the caller makes them.
        """
        spec = self._draw(seq, rng)
        return attrs.evolve(spec, is_open=True, created_ms=at_ms, updated_ms=at_ms)

    # -- drawing ---------------------------------------------------------

    def _draw(self, seq: int, rng: random.Random) -> CaseSpec:
        r = rng.random
        provider_index, code_index = self._pairs[bisect(self._pair_cum, r() * self._pair_cum[-1])]
        forced = self._forced_misspelling.get(seq)
        if forced is not None:
            provider_index = forced
            codes = self._codes_of_provider[forced]
            code_index = codes[int(r() * len(codes))]

        null_draw = r()
        provider: str | None
        canonical: str | None = self.providers[provider_index]
        code: str | None = self.error_codes[code_index]
        if forced is None and null_draw < _NEITHER:
            canonical = code = None
        elif forced is None and null_draw < _NEITHER + _NO_PROVIDER:
            canonical = None
        elif null_draw > 1.0 - _NO_ERROR_CODE:
            code = None

        if canonical is None:
            provider = None
        elif forced is not None or (
            provider_index in self._misspelling_of and r() < _MISSPELLING_SHARE
        ):
            provider = self._misspelling_of[provider_index]
        else:
            variant = bisect(self._variant_cum, r() * self._variant_cum[-1])
            provider = self._spellings[provider_index][variant]

        topic = vocab.TOPICS[int(r() * len(vocab.TOPICS))]
        created, updated = self._draw_times(r)
        contact_name, contact_email = _draw_contact(seq, r)
        priority_draw = bisect(_PRIORITY_CUM, r())
        return CaseSpec(
            seq=seq,
            provider=provider,
            provider_canonical=canonical,
            error_code=code,
            error_code_style=bisect(_CODE_STYLE_CUM, r()),
            subject=_draw_subject(r, provider, code),
            description=self._draw_description(r),
            is_open=r() < _OPEN_SHARE,
            status_choice=int(r() * 1000),
            custom_status=r() < _CUSTOM_STATUS_SHARE,
            priority_rank=None if priority_draw == 0 else priority_draw - 1,
            created_ms=created,
            updated_ms=updated,
            contact_name=contact_name,
            contact_email=contact_email,
            channel=None if r() < 0.03 else int(r() * 5),
            topic=topic,
            quirks=rng.getrandbits(32),
        )

    def _draw_times(self, r: _Random) -> tuple[int, int]:
        anchor = self.anchor_ms
        created = anchor - int(r() * self._span_ms)
        # Most CRMs send whole seconds; keep milliseconds on a tenth of cases
        # so that millisecond precision is exercised too.
        if r() >= 0.1:
            created -= created % 1000
        if r() < _BULK_UPDATE_SHARE:
            # A mass update touches many cases in the same second: ties in
            # the (timestamp, id) order and at an inclusive cursor.
            instant = self._bulk_instants[int(r() * len(self._bulk_instants))]
            if instant >= created:
                return created, instant
        # Cases are mostly updated soon after they are opened.
        updated = created + int((anchor - created) * r() ** 3)
        if updated != created and r() >= 0.1:
            updated = max(created, updated - updated % 1000)
        return created, updated

    def _draw_description(self, r: _Random) -> str | None:
        draw = r()
        if draw < 0.04:
            return None
        if draw > 1.0 - _LONG_DESCRIPTION_SHARE:
            return _long_description(r)
        return self._descriptions[int(r() * len(self._descriptions))]

    def _by_popularity(self) -> list[int]:
        """ASCII providers, most cases first.

        Only ASCII names get a variant: a swapped letter in Greek or Japanese
        tends to produce something no agent would type.
        """
        weight_of = [0.0] * len(self.providers)
        previous = 0.0
        for (provider, _), cumulative in zip(self._pairs, self._pair_cum, strict=True):
            weight_of[provider] += cumulative - previous
            previous = cumulative
        return sorted(
            (p for p in range(len(self.providers)) if self.providers[p].isascii()),
            key=lambda p: -weight_of[p],
        )

    def _plant_misspellings(self, rng: random.Random) -> dict[int, str]:
        """Pick a few popular providers and invent one typo for each."""
        popular = self._by_popularity()[:12]
        taken = {provider_key(name) for name in self.providers}
        planted: dict[int, str] = {}
        for provider in sorted(rng.sample(popular, _MISSPELLED_PROVIDER_COUNT)):
            typo = _misspell(self.providers[provider], rng, taken)
            taken.add(provider_key(typo))
            planted[provider] = typo
        return planted

    def _plant_near_misses(self, rng: random.Random) -> dict[int, str]:
        """Give a few more popular providers a variant no rule folds (one each)."""
        taken = {provider_key(name) for name in self.providers}
        taken.update(provider_key(typo) for typo in self._misspelling_of.values())
        free = [p for p in self._by_popularity() if p not in self._misspelling_of]
        planted: dict[int, str] = {}
        for kind in _NEAR_MISS_KINDS:
            fits = [
                p
                for p in free
                if p not in planted and _near_miss(kind, self.providers[p], rng, taken) is not None
            ][: 3 * _NEAR_MISSES_PER_KIND]
            for provider in sorted(rng.sample(fits, min(_NEAR_MISSES_PER_KIND, len(fits)))):
                variant = _near_miss(kind, self.providers[provider], rng, taken)
                if variant is not None:
                    taken.add(provider_key(variant))
                    planted[provider] = variant
        return planted


def generate_cases(
    n: int, seed: int = 1, *, anchor: datetime = DEFAULT_ANCHOR
) -> Iterator[CaseSpec]:
    """Yield ``n`` specs for ``seed``: shorthand for ``CaseGenerator(seed).specs(n)``."""
    return CaseGenerator(seed, anchor=anchor).specs(n)


# -- helpers ---------------------------------------------------------------


def _zipf_pairs(
    rng: random.Random, provider_count: int, code_count: int
) -> tuple[list[tuple[int, int]], list[float]]:
    """Give each provider a handful of codes and rank all pairs by popularity."""
    pairs = [
        (provider, code)
        for provider in range(provider_count)
        for code in rng.sample(range(code_count), rng.randint(4, 14))
    ]
    rng.shuffle(pairs)
    weights = [1.0 / (rank + 1) ** _ZIPF_EXPONENT for rank in range(len(pairs))]
    return pairs, list(accumulate(weights))


def _variant_table() -> tuple[list[tuple[int, str]], list[float]]:
    """Expand the variant weights into (kind, suffix) choices with cumulative weights."""
    kinds: list[tuple[int, str]] = []
    weights: list[float] = []
    for kind, weight in _VARIANT_WEIGHTS:
        if kind in (_SUFFIX, _UPPER_SUFFIX):
            for suffix in vocab.LEGAL_SUFFIXES:
                kinds.append((kind, suffix))
                weights.append(weight / len(vocab.LEGAL_SUFFIXES))
        else:
            kinds.append((kind, ""))
            weights.append(weight)
    return kinds, list(accumulate(weights))


def _spell(name: str, kind: int, suffix: str) -> str:
    """Render one spelling variant of a canonical provider name."""
    return _SPELLERS[kind](name, suffix)


# Indexed by the variant kinds above (_CANONICAL, _UPPER, ...), in order.
_SPELLERS: Final[tuple[Callable[[str, str], str], ...]] = (
    lambda name, _: name,
    lambda name, _: name.upper(),
    lambda name, _: name.lower(),
    lambda name, suffix: name + suffix,
    lambda name, suffix: (name + suffix).upper(),
    lambda name, _: f"  {name} ",
    lambda name, _: name.replace(" ", "-"),
    lambda name, _: name.lower().replace(" ", "_"),
    lambda name, _: name + ".",
    lambda name, _: name.replace(" ", "  "),
)


def _misspell(name: str, rng: random.Random, taken: set[str | None]) -> str:
    """Invent a typo of ``name`` (a dropped or swapped letter) with a new provider key."""
    words = name.split(" ")
    candidates = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    for _ in range(100):
        index = rng.choice(candidates)
        word = words[index]
        at = rng.randrange(1, len(word) - 1)
        if rng.random() < 0.5:
            typo = word[:at] + word[at + 1 :]
        else:
            typo = word[:at] + word[at + 1] + word[at] + word[at + 2 :]
        spelled = " ".join([*words[:index], typo, *words[index + 1 :]])
        if provider_key(spelled) not in taken:
            return spelled
    raise RuntimeError(f"could not misspell {name!r}")  # pragma: no cover


# Cyrillic letters an agent's keyboard layout may slip in for Latin ones.
_LOOK_ALIKES: Final = {
    "a": "\u0430",
    "c": "\u0441",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "x": "\u0445",
    "y": "\u0443",
}


def _near_miss(kind: str, name: str, rng: random.Random, taken: set[str | None]) -> str | None:
    """A variant of ``name`` of ``kind`` with a new provider key, or None if it has none.

    ``word order`` moves the first word last; ``long typo`` makes two typos
    in different words of a long name; ``script`` writes two letters with
    their Cyrillic look-alikes.
    """
    words = name.split(" ")
    if kind == "word order":
        if len(words) < 2 or not all(word.isalpha() for word in words):
            return None
        variant = " ".join([*words[1:], words[0]])
    elif kind == "long typo":
        long_words = [i for i, word in enumerate(words) if len(word) >= 5 and word.isalpha()]
        if len(provider_key(name) or "") < _LONG_KEY or len(long_words) < 2:
            return None
        for index in rng.sample(long_words, 2):
            words[index] = _misspell(words[index], rng, set())
        variant = " ".join(words)
    else:
        spots = [i for i, ch in enumerate(name) if ch in _LOOK_ALIKES]
        if len(spots) < 2:
            return None
        chars = list(name)
        for at in rng.sample(spots, 2):
            chars[at] = _LOOK_ALIKES[chars[at]]
        variant = "".join(chars)
    return None if provider_key(variant) in taken else variant


def _contact_table() -> list[tuple[str, str]]:
    """Every (display name, address local part) pair, folded to ASCII once."""
    table = []
    for first in vocab.FIRST_NAMES:
        for last in vocab.LAST_NAMES:
            local = "".join(vocab.ASCII_FOLD.get(ch, ch) for ch in f"{first}.{last}".lower())
            table.append((f"{first} {last}", local))
    return table


_CONTACTS: Final = _contact_table()


def _draw_contact(seq: int, r: _Random) -> tuple[str | None, str | None]:
    if r() < 0.03:
        return None, None
    name, local = _CONTACTS[int(r() * len(_CONTACTS))]
    domain = vocab.EMAIL_DOMAINS[seq % len(vocab.EMAIL_DOMAINS)]
    # The sequence number keeps addresses apart, as in a real customer base.
    return name, f"{local}{seq}@{domain}"


def _draw_subject(r: _Random, provider: str | None, code: str | None) -> str | None:
    draw = r()
    if draw < 0.02:
        return None
    if provider is not None and code is not None and draw < 0.75:
        template = vocab.SUBJECTS_WITH_PROVIDER[int(r() * len(vocab.SUBJECTS_WITH_PROVIDER))]
        return template.format(provider=provider.strip(), code=code)
    return vocab.SUBJECTS_PLAIN[int(r() * len(vocab.SUBJECTS_PLAIN))]


def _description_pool(rng: random.Random) -> list[str]:
    """A few thousand descriptions of one to three sentences, drawn once per seed.

    Drawing from a pool instead of joining sentences per case keeps a million
    specs fast; repeated descriptions are realistic anyway (templates).
    """
    sentences = vocab.DESCRIPTION_SENTENCES
    return [" ".join(rng.choices(sentences, k=rng.randint(1, 3))) for _ in range(4096)]


def _long_description(r: _Random) -> str:
    """The rare novel-length description, up to Banana's 32,000 characters."""
    sentences = vocab.DESCRIPTION_SENTENCES
    length = 2_000 + int(r() * 30_000)
    text = " ".join(sentences[i % len(sentences)] for i in range(length // 20 + 1))
    return text[:length]

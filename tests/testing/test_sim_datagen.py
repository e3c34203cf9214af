"""The simulators' data generator: deterministic, skewed, varied, with planted typos."""

from __future__ import annotations

import itertools
import random
import unicodedata
from collections import Counter
from collections.abc import Callable

import pytest

from supporthub import error_code_key, provider_key
from supporthub.testing.sim import (
    MIN_N_FOR_ALL_MISSPELLINGS,
    CaseGenerator,
    CaseSpec,
    generate_cases,
    typed_error_code,
)

# The generator is checked against the hub's own keys (one rule, no copy):
# tests/test_normalize*.py hold those to the contract's §3.


N = 20_000


@pytest.fixture(scope="module")
def specs() -> list[CaseSpec]:
    return list(generate_cases(N, seed=7))


def test_same_seed_same_specs() -> None:
    assert list(generate_cases(500, seed=3)) == list(generate_cases(500, seed=3))


def test_other_seed_other_specs() -> None:
    assert list(generate_cases(200, seed=3)) != list(generate_cases(200, seed=4))


def test_sequence_numbers_count_up_from_zero(specs: list[CaseSpec]) -> None:
    assert [spec.seq for spec in specs] == list(range(N))


def test_generation_is_lazy() -> None:
    stream = generate_cases(10**12, seed=1)
    first = list(itertools.islice(stream, 3))
    assert [spec.seq for spec in first] == [0, 1, 2]


def test_pairs_are_zipf_skewed(specs: list[CaseSpec]) -> None:
    groups = Counter(
        (spec.provider_canonical, spec.error_code)
        for spec in specs
        if spec.provider_canonical is not None and spec.error_code is not None
    )
    sizes = sorted(groups.values(), reverse=True)
    assert len(sizes) > 100, "many small groups"
    assert sum(sizes[:10]) > 0.25 * sum(sizes), "a few big groups hold a large share"
    assert sizes[0] > 20 * sizes[len(sizes) // 2], "the biggest dwarfs the median"


def test_nulls_come_in_every_combination(specs: list[CaseSpec]) -> None:
    shapes = Counter((spec.provider is None, spec.error_code is None) for spec in specs)
    for shape, share in (((True, False), 0.03), ((False, True), 0.04), ((True, True), 0.005)):
        assert shapes[shape] > share * N, shape
    assert all((spec.provider is None) == (spec.provider_canonical is None) for spec in specs)


def test_about_forty_canonical_providers_with_numeric_and_symbolic_codes(
    specs: list[CaseSpec],
) -> None:
    providers = {spec.provider_canonical for spec in specs if spec.provider_canonical}
    codes = {spec.error_code for spec in specs if spec.error_code is not None}
    assert 35 <= len(providers) <= 45
    assert any(code.isdigit() for code in codes)
    assert "AUTH_FAILED" in codes or any("_" in code for code in codes)
    assert not any(code.upper().startswith("E-") for code in codes)


def test_every_variant_shares_the_canonical_provider_key(specs: list[CaseSpec]) -> None:
    typos = CaseGenerator(7).planted_misspellings()
    for spec in specs:
        if spec.provider is not None and spec.provider not in typos:
            assert provider_key(spec.provider) == provider_key(spec.provider_canonical), spec


def test_spelling_variants_of_the_spec_are_all_present(specs: list[CaseSpec]) -> None:
    spellings = [spec.provider for spec in specs if spec.provider is not None]
    checks: dict[str, Callable[[str], bool]] = {
        "upper case": lambda s: s.isupper(),
        "lower case": lambda s: s.islower() and " " in s,
        "Inc.": lambda s: s.endswith(" Inc."),
        ", Inc.": lambda s: s.endswith(", Inc."),
        "LLC": lambda s: s.endswith("LLC"),
        "GmbH": lambda s: s.endswith("GmbH"),
        "Ltd": lambda s: s.endswith("Ltd"),
        "surrounding whitespace": lambda s: s != s.strip(),
        "hyphens": lambda s: "-" in s and " " not in s,
        "underscores": lambda s: "_" in s,
    }
    for name, check in checks.items():
        assert any(check(s) for s in spellings), name


def test_canonical_keys_are_distinct() -> None:
    generator = CaseGenerator(1)
    keys = [provider_key(name) for name in generator.providers]
    assert len(set(keys)) == len(keys)


def test_unicode_in_subjects_and_provider_names(specs: list[CaseSpec]) -> None:
    subjects = [spec.subject or "" for spec in specs]
    assert any("é" in s for s in subjects), "accents"
    assert any(any(ord(c) > 0x1F000 for c in s) for s in subjects), "emoji"
    assert any(any("\u4e00" <= c <= "\u9fff" for c in s) for s in subjects), "CJK"
    assert any(not (spec.provider or "a").isascii() for spec in specs)


def test_planted_misspellings_are_few_used_and_distinct() -> None:
    generator = CaseGenerator(11)
    truth = generator.planted_misspellings()
    assert 8 <= len(truth) <= 14  # 5 typos, and up to 3 near-misses of each kind
    canonical_keys = {provider_key(name) for name in generator.providers}
    assert len({truth[typo] for typo in truth}) == len(truth), "one typo per provider"
    specs = list(generator.specs(MIN_N_FOR_ALL_MISSPELLINGS))
    used = {spec.provider for spec in specs}
    for typo, canonical in truth.items():
        assert typo in used
        assert canonical in generator.providers
        assert provider_key(typo) not in canonical_keys
        assert all(spec.provider_canonical == canonical for spec in specs if spec.provider == typo)


def test_misspellings_are_a_minority_of_their_provider(specs: list[CaseSpec]) -> None:
    truth = CaseGenerator(7).planted_misspellings()
    for typo, canonical in truth.items():
        of_provider = [spec for spec in specs if spec.provider_canonical == canonical]
        misspelled = [spec for spec in of_provider if spec.provider == typo]
        assert 0 < len(misspelled) < 0.2 * len(of_provider)


def test_timestamps_lie_before_the_anchor_and_updates_follow_creation(
    specs: list[CaseSpec],
) -> None:
    anchor = CaseGenerator(7).anchor_ms
    assert all(spec.created_ms <= spec.updated_ms <= anchor for spec in specs)
    assert specs[0].created_at.tzinfo is not None
    ties = Counter(spec.updated_ms // 1000 for spec in specs)
    assert max(ties.values()) > 20, "mass updates give many equal timestamps"


def test_some_cases_are_open_some_closed_some_with_custom_status(specs: list[CaseSpec]) -> None:
    open_share = sum(spec.is_open for spec in specs) / N
    assert 0.2 < open_share < 0.4
    assert any(spec.custom_status for spec in specs)


def test_contacts_use_reserved_example_domains(specs: list[CaseSpec]) -> None:
    emails = [spec.contact_email for spec in specs if spec.contact_email is not None]
    assert len(set(emails)) == len(emails)
    assert all(email.rsplit("@", 1)[1].startswith("example.") for email in emails)


def test_typed_error_codes_share_the_error_code_key() -> None:
    for code in ("1042", "AUTH_FAILED"):
        spellings = {typed_error_code(code, style) for style in range(3)}
        assert {error_code_key(spelling) for spelling in spellings} == {code}
    assert typed_error_code("1042", 1) == " 1042 "
    assert typed_error_code("AUTH_FAILED", 2) == "auth_failed"


def test_new_spec_is_an_open_case_at_the_given_time() -> None:
    generator = CaseGenerator(1)
    spec = generator.new_spec(5000, random.Random(1), at_ms=1_800_000_000_000)
    assert spec.seq == 5000
    assert spec.is_open
    assert spec.created_ms == spec.updated_ms == 1_800_000_000_000


def test_long_descriptions_stay_within_banana_limit() -> None:
    lengths = [len(spec.description or "") for spec in generate_cases(30_000, seed=2)]
    assert max(lengths) <= 32_000
    assert max(lengths) > 1_000


def _kind_of(variant: str, canonical: str) -> str:
    """Which kind of near-miss a planted variant is (see the generator's doc)."""
    variant_key, canonical_key = provider_key(variant) or "", provider_key(canonical) or ""
    if not variant.isascii():
        return "script"
    if sorted(variant_key.split()) == sorted(canonical_key.split()):
        return "word order"
    differing = sum(a != b for a, b in zip(variant.split(), canonical.split(), strict=True))
    return "long typo" if differing == 2 else "typo"


@pytest.mark.parametrize("seed", [1, 7, 11])
def test_every_kind_of_near_miss_is_planted(seed: int) -> None:
    truth = CaseGenerator(seed).planted_misspellings()
    kinds = Counter(_kind_of(variant, canonical) for variant, canonical in truth.items())
    assert kinds == {"typo": 5, "word order": 3, "long typo": 3, "script": 3}
    for variant, canonical in truth.items():
        if _kind_of(variant, canonical) == "long typo":
            assert len(provider_key(canonical) or "") >= 16
        if _kind_of(variant, canonical) == "script":
            # Cyrillic look-alikes, nothing else changed.
            assert sum(a != b for a, b in zip(variant, canonical, strict=True)) == 2
            assert all("CYRILLIC" in unicodedata.name(ch) for ch in variant if not ch.isascii())

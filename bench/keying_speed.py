"""Keys per second of rule sets default@1 and default@2, on a realistic mix.

The mix: the provider spellings and error codes the simulators' data
generator draws (most ASCII, some accented, Greek, Japanese), plus every name
of the grouping-quality pairs (many scripts, legal forms, dotted initials).
Keying runs once per case on every refresh. The key functions remember
keys, so a refresh pays the full price once per distinct spelling: the
first column times exactly that (every spelling once, caches cold); the
second the whole mix in case order from cold caches, as a refresh sees it.

Run: ``python bench/keying_speed.py [--write-docs]``. Timings are reported,
never asserted.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable

from grouping_quality import load_pairs, write_docs

from supporthub.grouping import normalize as _normalize
from supporthub.grouping.normalize import (
    error_code_key,
    error_code_key_v1,
    provider_key,
    provider_key_v1,
)
from supporthub.testing.sim import CaseGenerator, typed_error_code


def realistic_mix(n: int = 20_000) -> tuple[list[str], list[str]]:
    """Provider spellings and raw error codes, as many as ``n`` cases carry."""
    providers: list[str] = []
    codes: list[str] = []
    for spec in CaseGenerator(seed=1).specs(n):
        if spec.provider is not None:
            providers.append(spec.provider)
        if spec.error_code is not None:
            codes.append(typed_error_code(spec.error_code, len(codes) % 3))
    names = [name for pair in load_pairs() for name in (pair.left, pair.right)]
    return providers + names, codes


def clear_key_caches() -> None:
    """Forget every remembered key and round (not the per-character facts:
    those are a few thousand entries, warm after the first names)."""
    for cached in (
        _normalize.provider_key,
        _normalize.provider_key_v1,
        _normalize.error_code_key,
        _normalize.error_code_key_v1,
        _normalize._provider_round,  # a refresh starts without it too
    ):
        cached.cache_clear()


def rate(key: Callable[[str], str | None], values: list[str]) -> float:
    """Keys per second over ``values`` from cold caches (the best of three runs)."""
    best = 0.0
    for _ in range(3):
        clear_key_caches()
        start = time.perf_counter()
        for value in values:
            key(value)
        best = max(best, len(values) / (time.perf_counter() - start))
    return best


def refresh_keying(
    key_pairs: list[tuple[Callable[..., object], Callable[..., object]]],
) -> list[float]:
    """Seconds to key the provider and error code of 100,000 generated cases,
    from cold caches, per (provider key, error code key): what a full refresh
    of the performance benchmark (50,000 cases per source) spends on keys."""
    specs = list(CaseGenerator(seed=1).specs(100_000))
    fields = [
        (
            s.provider,
            None if s.error_code is None else typed_error_code(s.error_code, s.error_code_style),
        )
        for s in specs
    ]
    seconds = []
    for provider, code in key_pairs:
        best = float("inf")
        for _ in range(3):
            clear_key_caches()
            start = time.perf_counter()
            for raw_provider, raw_code in fields:
                provider(raw_provider)
                code(raw_code)
            best = min(best, time.perf_counter() - start)
        seconds.append(best)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000, help="cases whose fields are keyed")
    parser.add_argument("--write-docs", action="store_true", help="update docs/grouping.md")
    args = parser.parse_args(argv)
    providers, codes = realistic_mix(args.cases)
    distinct = len(set(providers))
    lines = [
        f"{len(providers)} provider spellings ({distinct} distinct), {len(codes)} error codes:",
        "",
        "| key | distinct spellings, keys/s | the whole mix (repeats cached), keys/s |",
        "| --- | ---: | ---: |",
    ]
    for name, key, values in itertools.chain(
        [("provider default@1", provider_key_v1, providers)],
        [("provider default@2", provider_key, providers)],
        [("error code default@1", error_code_key_v1, codes)],
        [("error code default@2", error_code_key, codes)],
    ):
        cold = rate(key, list(dict.fromkeys(values)))
        mix = rate(key, values)
        lines.append(f"| {name} | {cold:,.0f} | {mix:,.0f} |")
    v1, v2 = refresh_keying([(provider_key_v1, error_code_key_v1), (provider_key, error_code_key)])
    lines += [
        "",
        f"Keying the 100,000 cases of a full refresh of the performance benchmark: "
        f"default@1 {v1 * 1000:.0f} ms, default@2 {v2 * 1000:.0f} ms.",
    ]
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        write_docs(text, marker="keying-speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

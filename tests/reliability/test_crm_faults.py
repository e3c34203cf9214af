"""CRM faults across the whole hub: both sources configured, one misbehaves.

Each fault hits one source (the *victim*) during an incremental refresh that
spans several pages. For every fault the test checks the expected report
(the victim recovers or fails in words), that the other source is refreshed
all the same, that no case the hub held before is lost, that the aggregated
cases agree with their cases, and that the next refresh, faults gone,
catches up with the CRMs exactly (its cursor neither skipped nor lost a
change). Per-adapter details (retry counts, exact wording, backoff timing)
are tested in each adapter's own suite; this is the cross-cutting view.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest
import reliability_kit as kit
import supporthub_strawberry.adapter
from supporthub_banana.adapter import BananaAdapter

PAGE = 40  # records a page: the faulted refresh spans two pages or more

Setup = Callable[[Any, kit.PageHooks, str], object]


@attrs.frozen
class Fault:
    """A fault, how to cause it, and what the victim's report must say."""

    name: str
    setup: Setup
    ok: bool
    error: str = ""
    sources: tuple[str, ...] = ("banana", "strawberry")
    env: dict[str, str] = attrs.field(factory=dict)


def _mid_sync(action: Callable[[Any], object]) -> Setup:
    """Cause the fault after the victim's first listing page has been answered."""
    return lambda sim, hooks, source: hooks.after(source, 1, lambda: action(sim))


def _older_copy(sim: Any) -> None:
    record = next(iter(sim.live_records()))
    sim.repeat_with_older_timestamp(record.get("Id") or record["id"], **_stale_subject(sim))


def _stale_subject(sim: Any) -> dict[str, str]:
    return {"Subject" if hasattr(sim, "client_secret") else "subject": "stale copy"}


def _revoke_for_good(sim: Any) -> None:
    sim.revoke_all_tokens()
    sim.token_ttl = 0  # the renewed token is dead on arrival too: a second 401


FAULTS = [
    Fault("down", lambda sim, hooks, source: sim.faults.down(), False, "could not be reached"),
    Fault(
        "429-storm",
        lambda sim, hooks, source: sim.faults.rate_limit_burst(100_000, retry_after=0.01),
        False,
        "answered 429 3 times",
    ),
    Fault(
        "429-short",
        lambda sim, hooks, source: sim.faults.rate_limit_burst(2, retry_after=0.01),
        True,
    ),
    Fault("5xx-burst", _mid_sync(lambda sim: sim.faults.error_burst(2, status=502)), True),
    Fault(
        "5xx-storm",
        _mid_sync(lambda sim: sim.faults.error_burst(100_000, status=503)),
        False,
        "answered 503 3 times",
    ),
    Fault(
        "slower-than-timeout",
        _mid_sync(lambda sim: sim.faults.slow(0.6)),
        False,
        "did not answer within 0.3 s",
        env={"SUPPORTHUB_HTTP_TIMEOUT_SECONDS": "0.3"},
    ),
    Fault(
        "token-revoked-renewed",
        _mid_sync(lambda sim: sim.revoke_all_tokens()),
        True,
        sources=("banana",),
    ),
    Fault(
        "token-revoked-for-good",
        _mid_sync(_revoke_for_good),
        False,
        "invalid_token",
        sources=("banana",),
    ),
    Fault(
        "key-revoked",
        _mid_sync(lambda sim: setattr(sim, "api_key", "sk-revoked")),
        False,
        "refused the API key",
        sources=("strawberry",),
    ),
    Fault("page-not-json", _mid_sync(lambda sim: sim.faults.bad_json_page(1)), False, "not JSON"),
    Fault("repeat-older-timestamp", _mid_sync(_older_copy), True),
    Fault(
        "cursor-rejected",
        _mid_sync(lambda sim: sim.expire_locators()),
        False,
        "query locator",
        sources=("banana",),
    ),
    Fault(
        "cursor-rejected",
        _mid_sync(lambda sim: sim.expire_cursors()),
        False,
        "rejected the export cursor",
        sources=("strawberry",),
    ),
]

CASES = [
    pytest.param(fault, source, id=f"{source}-{fault.name}")
    for fault in FAULTS
    for source in fault.sources
]


@pytest.fixture(autouse=True)
def small_pages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(BananaAdapter, "page_size", PAGE)
    monkeypatch.setattr(supporthub_strawberry.adapter, "PAGE_LIMIT", PAGE)


def _restore(sim: Any) -> None:
    sim.faults.reset()
    if hasattr(sim, "client_secret"):
        sim.token_ttl = 3600
    else:
        sim.api_key = kit.STRAWBERRY_KEY


@pytest.mark.parametrize(("fault", "victim"), CASES)
def test_a_crm_fault_hits_one_source_only(
    make_hub, crms, hooks, trial, fault: Fault, victim: str
) -> None:
    banana, strawberry = crms
    sims = kit.by_source(banana, strawberry)
    other = "strawberry" if victim == "banana" else "banana"
    hub = make_hub(kit.env_for(banana, strawberry) | fault.env)
    first = hub.refresh(force=True)
    assert first.ok, first.sources
    before = {name: kit.held(hub, name) for name in sims}
    cursor_before = kit.stored_cursor(hub, victim)
    for seed, sim in enumerate(sims.values()):
        sim.mutate(update=0.3, close=0.05, add=0.05, seed=seed)
    fault.setup(sims[victim], hooks, victim)

    report = hub.refresh(force=True)

    hit = report.sources[victim]
    assert hit.ok is fault.ok, hit.error
    if fault.ok:
        assert kit.held(hub, victim) == kit.truth(sims[victim])
    else:
        assert fault.error in (hit.error or "")
        assert kit.held(hub, victim) == before[victim], "the victim's cases stay as they were"
        assert kit.stored_cursor(hub, victim) == cursor_before
        assert hub.health().sources[victim].last_error == hit.error
    assert report.sources[other].ok, report.sources[other].error
    assert kit.held(hub, other) == kit.truth(sims[other]), "the other source is refreshed"
    for name in sims:
        assert set(before[name]) <= set(kit.held(hub, name)), "no previous case lost"
    kit.check_consistent(hub)

    _restore(sims[victim])
    again = hub.refresh(force=True)
    assert again.ok, again.sources
    for name, sim in sims.items():
        assert kit.held(hub, name) == kit.truth(sim), f"{name} caught up exactly"
    kit.check_consistent(hub)
    trial.record(
        f"CRM fault, {victim}: {fault.name}",
        1,
        ("recovered in the same refresh" if fault.ok else f"source failed: {hit.error!r}")
        + f"; {other} refreshed; no case lost; next refresh caught up exactly",
    )

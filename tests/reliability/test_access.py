"""Access (contract §2): with both tokens set, no route answers or changes anything without one.

The routes are enumerated from the app itself, so an endpoint added later is
covered without touching this file. Open by design: ``/health`` (load
balancers) and the web page's own files (``/``, ``/static/…``), which hold no
data; the page asks for the token and sends it with its data requests.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import reliability_kit as kit
from starlette.testclient import TestClient

import supporthub
from supporthub.service import _auth, create_app

READ = "read-token-rel-5c1e"
API = "api-token-rel-77b0"
OPEN_PATHS = {"/health", "/"}
OPEN_PREFIXES = ("/static/",)
WRONG = [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Bearer {READ}x"},
    {"Authorization": f"Bearer {READ[:-1]}"},
    {"Authorization": READ},
    {"Authorization": f"Basic {READ}"},
    {"Authorization": f"Token {API}"},
]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def guarded(make_hub, crms) -> Iterator[tuple[TestClient, supporthub.Hub, list[Any]]]:
    banana, strawberry = crms
    hub = make_hub(
        kit.env_for(banana, strawberry)
        | {"SUPPORTHUB_READ_TOKEN": READ, "SUPPORTHUB_API_TOKEN": API}
    )
    assert hub.refresh(force=True).ok
    banana.mutate(update=0.1, seed=1)  # a refresh that got through would change things
    strawberry.mutate(update=0.1, seed=2)
    with TestClient(create_app(hub, scheduler=False)) as client:
        yield client, hub, [banana, strawberry]


def state_of(hub: supporthub.Hub, crms: list[Any]) -> bytes:
    with hub.store.reader() as reader:
        states = reader.states()
    return orjson.dumps(
        [
            supporthub.to_json_dict(hub.all()),
            {name: supporthub.to_json_dict(state) for name, state in states.items()},
            [len(sim.requests) for sim in crms],
        ]
    )


def test_every_route_refuses_a_missing_or_wrong_token_and_changes_nothing(guarded, trial) -> None:
    client, hub, crms = guarded
    agg_id = hub.all().aggregated_cases[0].id
    before = state_of(hub, crms)
    routes = kit.requests_for(client.app, agg_id)
    assert {"/get-all", "/search", "/refresh", "/health", "/metrics"} <= {p for _, p in routes}
    guarded_count = 0
    for method, path in routes:
        if method == "HEAD":
            continue
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES):
            if method == "GET":
                answer = client.get(path)
                assert answer.status_code == 200, path
                assert agg_id not in answer.text, f"{path} is open and must hold no data"
            continue
        guarded_count += 1
        for headers in WRONG:
            answer = client.request(method, path, headers=headers)
            assert answer.status_code == 401, (method, path, headers, answer.status_code)
            assert "Authorization: Bearer" in answer.json()["error"]
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert guarded_count >= 15
    assert state_of(hub, crms) == before, "a refused request changed something"
    # The read token does not open the write endpoint either.
    for method in ("GET", "POST"):
        assert client.request(method, "/refresh", headers=bearer(READ)).status_code == 401
    assert state_of(hub, crms) == before
    # The right tokens work: the guard is not simply closed.
    assert client.get(f"/aggregated-cases/{agg_id}", headers=bearer(READ)).status_code == 200
    assert client.post("/refresh", headers=bearer(API)).status_code == 200
    assert state_of(hub, crms) != before
    trial.record(
        "every route without a token or with a wrong one (both tokens set)",
        guarded_count * len(WRONG) + 2,
        f"{guarded_count} guarded routes × {len(WRONG)} wrong headers, read token on /refresh: "
        "all 401, nothing changed; the right tokens work",
    )


def test_health_stays_open_with_both_tokens(guarded, trial) -> None:
    client, _, _ = guarded
    answer = client.get("/health")
    assert answer.status_code == 200
    assert answer.json()["database"] == "ok"
    trial.record("/health without a token (both tokens set)", 1, "200: stays open")


def test_tokens_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch, trial) -> None:
    """Every candidate goes through hmac.compare_digest on equal-length digests, never ==."""
    calls: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(_auth.hmac, "compare_digest", spy)
    guard = _auth.TokenGuard(_ok_app, api_token=API, read_token=READ)
    client = TestClient(guard)  # no lifespan: the bare guard around a bare app
    for token, status in [("nope", 401), ("x" * 10_000, 401), (READ, 200), (API, 200)]:
        calls.clear()
        answer = client.get("/get-all", headers=bearer(token))
        assert answer.status_code == status
        # Both tokens are candidates for a read: both compared, whichever matched.
        assert len(calls) == 2, calls
        assert all(len(a) == len(b) == 32 for a, b in calls), "digests of equal length"
        assert all(token.encode() not in (a, b) for a, b in calls), "raw tokens compared"
    calls.clear()
    assert client.post("/refresh", headers=bearer("nope")).status_code == 401
    assert len(calls) == 1
    # The decision is compare_digest's alone: no == on the side.
    monkeypatch.setattr(_auth.hmac, "compare_digest", lambda a, b: False)
    assert client.get("/get-all", headers=bearer(READ)).status_code == 401
    trial.record(
        "token comparison",
        6,
        "every candidate through hmac.compare_digest on equal-length digests; no == on the side",
    )


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

"""First-run and bad-input edges of the service (issue 12, part 6)."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from supporthub.service import create_app
from supporthub.service._server import _warn_about, listen

from .conftest import free_port
from .test_commands import start, wait_for


def test_every_reply_says_nosniff(client: TestClient, seeded_hub: Any) -> None:
    replies = {
        "page": client.get("/"),
        "listing (streamed)": client.get("/get-all", params={"casesLimit": 0}),
        "bad parameter": client.get("/search", params={"status": "pending"}),
        "unknown id": client.get("/aggregated-cases/nope"),
        "unknown route": client.get("/no-such-route"),
        "wrong method": client.delete("/get-all"),
        "health": client.get("/health"),
        "document": client.get("/openapi.json"),
        "script": client.get("/static/app.js"),
        "refresh": client.post("/refresh"),
    }
    for what, reply in replies.items():
        assert reply.headers.get("x-content-type-options") == "nosniff", (what, reply.status_code)
    with TestClient(
        create_app(seeded_hub, scheduler=False), raise_server_exceptions=False
    ) as failing:
        seeded_hub.health = _broken
        crashed = failing.get("/health")
    assert crashed.status_code == 500
    assert crashed.headers.get("x-content-type-options") == "nosniff"


def _broken() -> None:
    raise RuntimeError("a bug")


def test_every_reply_says_nosniff_when_a_token_is_missing(make_hub: Any) -> None:
    hub = make_hub(SUPPORTHUB_READ_TOKEN="read-token-for-nosniff")
    with TestClient(create_app(hub, scheduler=False)) as guarded:
        refused = guarded.get("/get-all")
    assert refused.status_code == 401
    assert refused.headers.get("x-content-type-options") == "nosniff"


def test_refresh_without_a_source_is_503_naming_the_variables(make_hub: Any) -> None:
    hub = make_hub(SUPPORTHUB_FAKE_URL="")
    with TestClient(create_app(hub, scheduler=False)) as no_sources:
        answer = no_sources.post("/refresh")
        listing = no_sources.get("/get-all")
    assert answer.status_code == 503
    assert answer.json() == {"error": "no source is enabled; set one of: SUPPORTHUB_FAKE_URL"}
    assert listing.status_code == 200  # reading still works


@pytest.mark.slow
@pytest.mark.parametrize(
    ("host", "token", "warned"),
    [("127.0.0.1", None, False), ("0.0.0.0", None, True), ("0.0.0.0", "api-token-42", False)],
)
def test_serve_prints_its_url_and_warns_when_open_beyond_loopback_without_a_token(
    installed_fakecrm: dict[str, str],
    fake_crm: Any,
    tmp_path: Path,
    host: str,
    token: str | None,
    warned: bool,
) -> None:
    port = free_port()
    env = dict(
        installed_fakecrm,
        SUPPORTHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        SUPPORTHUB_FAKE_URL=str(fake_crm.path),
        SUPPORTHUB_FAKE_TOKEN="serve-secret-5678",
        SUPPORTHUB_SCHEDULER="off",
    )
    if token:
        env["SUPPORTHUB_API_TOKEN"] = token
    serve = start(["serve", "--host", host, "--port", str(port)], env, tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", serve, 20)
    finally:
        serve.send_signal(signal.SIGINT)
        out, err = serve.communicate(timeout=30)
    assert f"supporthub serve is ready at http://{host}:{port}/ (Ctrl-C stops it)" in out
    warning = f"listening on {host}, reachable from other machines, and SUPPORTHUB_API_TOKEN"
    assert (warning in err) == warned, err
    if token:
        assert token not in out + err


@pytest.mark.slow
def test_the_shipped_demo_labels_each_crm_and_keeps_migration_logs_out(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTHUB_")}
    port = free_port()
    demo = start(["demo", "--port", str(port), "--cases", "1000"], env, tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", demo, 30)
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics").text
    finally:
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err
    assert "alembic" not in out + err
    assert "Running upgrade" not in out + err
    for title in ("Banana", "Strawberry"):
        assert f"  {title} CRM (simulated): http://127.0.0.1:" in out, out
    for name in ("banana", "strawberry"):
        stored = _stored_count(metrics, name)
        assert f"  {name}: 1,000 records" in out
        # Fewer cases than records: the demo says how many it kept and why.
        assert stored < 1000
        assert (
            f"  {name}: {stored:,} cases kept; the other {1000 - stored:,} records are "
            "deleted cases, which the hub does not keep"
        ) in out, out


def _stored_count(metrics: str, source: str) -> int:
    for line in metrics.splitlines():
        if line.startswith("supporthub_cases{") and f'source="{source}"' in line:
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError(f"no case count for {source} in /metrics:\n{metrics}")


def test_serve_warns_that_without_a_source_it_only_serves_stored_cases(
    make_hub: Any, caplog: pytest.LogCaptureFixture
) -> None:
    hub = make_hub(SUPPORTHUB_FAKE_URL="")
    with listen("127.0.0.1", 0) as listener, caplog.at_level("WARNING", "supporthub.serve"):
        _warn_about(hub, "127.0.0.1", listener)
    assert [r.getMessage() for r in caplog.records] == [
        "no source is enabled; set one of: SUPPORTHUB_FAKE_URL; serving the stored cases only"
    ]

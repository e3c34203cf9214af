"""Fixtures for the HTTP service: a seeded hub on each database, an ASGI client, a live server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from starlette.testclient import TestClient

from supporthub.service import create_app

from .document_check import check_answer

#: (provider as the CRM spells it, error code as written, open?) per case.
SEED: list[tuple[str | None, str | None, bool]] = [
    ("Acme Payments", "E-1042", True),
    ("ACME PAYMENTS INC", "1042", True),
    (" acme-payments ", "E-1042", True),
    ("Acme Payments", "E-1042", False),
    ("Globex", "AUTH_FAILED", True),
    ("Globex", "e-auth_failed", False),
    ("Hooli", "E-7", True),
    ("Hooli", "7", True),
    ("Initech", "500", False),
    ("Initech", "500", False),
    ("Umbrella", None, True),
    (None, "1042", False),
    ("Globex", "1042", False),
]
# Enough small aggregated cases that paging has several pages.
SEED += [(f"Vendor {n:02d}", f"V-{n}", n % 3 != 0) for n in range(20)]


def seed(fake_crm: Any, rows: list[tuple[str | None, str | None, bool]] = SEED) -> None:
    """Fill the fake CRM: one record per row, subjects that need escaping included."""
    for number, (provider, code, is_open) in enumerate(rows):
        fake_crm.put(
            f"c{number:03d}",
            provider=provider,
            error_code=code,
            status="open" if is_open else "closed",
            subject=f'<b>Case {number}</b> & "quotes" <script>alert({number})</script>',
        )


@pytest.fixture(autouse=True)
def answers_match_the_document(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every JSON answer a test here receives must be one the served document allows."""
    request = TestClient.request

    def checked(self: TestClient, method: str, url: Any, *args: Any, **kwargs: Any) -> Any:
        answer = request(self, method, url, *args, **kwargs)
        check_answer(method.upper(), answer.request.url.path, answer)
        return answer

    monkeypatch.setattr(TestClient, "request", checked)


@pytest.fixture
def seeded_hub(make_hub: Any, fake_crm: Any) -> Any:
    """A hub on the test database holding :data:`SEED`, refreshed once."""
    seed(fake_crm)
    hub = make_hub()
    assert hub.refresh(force=True).ok
    return hub


@pytest.fixture
def client(seeded_hub: Any) -> Iterator[TestClient]:
    """An ASGI client on the seeded hub's app, lifespan running, scheduler off."""
    with TestClient(create_app(seeded_hub, scheduler=False)) as test_client:
        yield test_client


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def live_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free port in a thread; yield its base URL."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=free_port(), log_config=None, access_log=False, lifespan="on"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(10)

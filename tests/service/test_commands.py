"""``supporthub serve`` and ``supporthub demo`` as a person runs them: subprocesses, real ports.

The demo's simulated CRMs come from an in-test plug-in (``supporthub_fakedemo``)
installed through an entry point, the way ``pip install`` would.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from supporthub import RefreshReport, SourceReport, Trigger
from supporthub.service.demo import _first_refresh

from .conftest import free_port

FAKECRM = Path(__file__).parent.parent / "fakecrm"


def start(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supporthub.cli", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(url: str, process: subprocess.Popen[str], seconds: float) -> httpx.Response:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"exited {process.returncode}:\n{out}\n{err}")
        try:
            answer = httpx.get(url, timeout=2)
            if answer.status_code == 200:
                return answer
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"{url} did not answer within {seconds} s:\n{out}\n{err}")
        time.sleep(0.1)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def installed_fakedemo(installed_fakecrm: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """Environment with the fake CRM and the fake demo CRMs installed as plug-ins."""
    site = Path(installed_fakecrm["PYTHONPATH"].split(os.pathsep)[0])
    dist = site / "supporthub_fakedemo-0.0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: supporthub-fakedemo\nVersion: 0.0.1\n"
    )
    (dist / "entry_points.txt").write_text("[supporthub]\nfakedemo = supporthub_fakedemo\n")
    module = "supporthub_fakedemo.py"
    (site / module).write_text((FAKECRM / module).read_text())
    env = dict(installed_fakecrm, FAKEDEMO_LOG=str(tmp_path / "fakedemo.log"))
    env = {k: v for k, v in env.items() if not k.startswith("SUPPORTHUB_") or k == "PYTHONPATH"}
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    # The shipped simulators may be installed too; these tests count the fake's.
    return {**env, "SUPPORTHUB_BLOCKED_PLUGINS": "banana,strawberry", "TMPDIR": str(scratch)}


@pytest.mark.slow
def test_demo_serves_real_data_and_ctrl_c_stops_everything(installed_fakedemo, tmp_path) -> None:
    port = free_port()
    started = time.monotonic()
    demo = start(["demo", "--port", str(port), "--cases", "300"], installed_fakedemo, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        page = wait_for(base + "/", demo, 30)
        assert "Support Aggregation Hub" in page.text
        listing = httpx.get(base + "/get-all", params={"casesLimit": 0}).json()
        assert time.monotonic() - started < 30
        assert listing["refreshedAt"] is not None
        assert sum(a["caseCount"] for a in listing["aggregatedCases"]) == 300
        assert {"Acme Payments", "Globex"} <= {a["provider"] for a in listing["aggregatedCases"]}
        health = httpx.get(base + "/health").json()
        assert health["minRefreshAgeSeconds"] == 60  # short, for a demo
        log = (tmp_path / "fakedemo.log").read_text().split()
        helper = int(log[1])
        assert alive(helper)
    finally:
        demo.send_signal(signal.SIGINT)
        out, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err
    assert f"supporthub demo is ready at http://127.0.0.1:{port}/" in out
    assert "supporthub demo stopped" in out
    assert (tmp_path / "fakedemo.log").read_text().split() == [
        "started",
        str(helper),
        "stopped",
        str(helper),
    ]
    assert not alive(helper)
    assert "fakedemo-secret-1234" not in out + err
    assert not list((tmp_path / "tmp").glob("supporthub-demo-*"))  # the demo cleaned up


@pytest.mark.slow
def both_sources_present(base: str) -> tuple[bool, Any]:
    """Whether Banana's and Strawberry's cases are both served yet, and what was seen."""
    health = httpx.get(base + "/health", timeout=5).json()
    succeeded = {n for n, s in health["sources"].items() if s["lastSuccessAt"]}
    if succeeded != {"banana", "strawberry"}:
        return False, health
    listing = httpx.get(base + "/get-all", timeout=10).json()
    sources = {c["source"] for a in listing["aggregatedCases"] for c in a["cases"]}
    return sources == {"banana", "strawberry"}, (health, listing["total"], sources)


def test_demo_with_the_shipped_simulators(tmp_path) -> None:
    """The README's first command: real Banana and Strawberry simulators, within 30 s.

    The demo serves once its first refresh is done (a source that failed it on
    a slow machine is fetched again before serving); the test still waits,
    within the same 30 s, until both sources' cases are served instead of
    looking once.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPPORTHUB_")}
    port = free_port()
    started = time.monotonic()
    demo = start(["demo", "--port", str(port), "--cases", "2000"], env, tmp_path)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(base + "/", demo, 30)
        seen: Any = None
        while time.monotonic() - started < 30:
            present, seen = both_sources_present(base)
            if present:
                break
            time.sleep(0.25)
        else:
            pytest.fail(f"both sources' cases were not served within 30 s: {seen}")
        listing = httpx.get(base + "/get-all", params={"casesLimit": 0}).json()
        assert sum(a["caseCount"] for a in listing["aggregatedCases"]) > 3000
        health = httpx.get(base + "/health").json()
        assert {n: s["lastError"] for n, s in health["sources"].items()} == {
            "banana": None,
            "strawberry": None,
        }
    finally:
        demo.send_signal(signal.SIGINT)
        _, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err


@pytest.mark.slow
def test_demo_stops_everything_on_sigterm_too(installed_fakedemo, tmp_path) -> None:
    port = free_port()
    demo = start(["demo", "--port", str(port), "--cases", "30"], installed_fakedemo, tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", demo, 30)
    finally:
        demo.send_signal(signal.SIGTERM)
        _, err = demo.communicate(timeout=30)
    assert demo.returncode == 0, err
    log = (tmp_path / "fakedemo.log").read_text().split()
    assert log[0::2] == ["started", "stopped"]
    assert not alive(int(log[1]))


def test_demo_without_simulators_says_what_to_install(installed_fakecrm, tmp_path) -> None:
    env = {k: v for k, v in installed_fakecrm.items() if not k.startswith("SUPPORTHUB_")}
    env["PYTHONPATH"] = installed_fakecrm["PYTHONPATH"]
    env["SUPPORTHUB_BLOCKED_PLUGINS"] = "banana,strawberry"
    result = subprocess.run(
        [sys.executable, "-m", "supporthub.cli", "demo", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "pip install supporthub-banana supporthub-strawberry" in lines[0]


def _serve_env(installed_fakecrm: dict[str, str], fake_crm: Any, tmp_path: Path) -> dict[str, Any]:
    """``serve`` on a SQLite file with the fake CRM holding one case."""
    fake_crm.put("1", provider="Acme", error_code="E-1")
    return dict(
        installed_fakecrm,
        SUPPORTHUB_DATABASE_URL=f"sqlite:///{tmp_path / 'serve.db'}",
        SUPPORTHUB_FAKE_URL=str(fake_crm.path),
        SUPPORTHUB_FAKE_TOKEN="serve-secret-5678",
    )


@pytest.mark.slow
def test_serve_runs_the_service_with_json_logs(installed_fakecrm, fake_crm, tmp_path) -> None:
    port = free_port()
    env: dict[str, Any] = dict(
        _serve_env(installed_fakecrm, fake_crm, tmp_path),
        SUPPORTHUB_LOG_FORMAT="json",
        SUPPORTHUB_READ_TOKEN="serve-read-token",
    )
    serve = start(["serve", "--port", str(port)], env, tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health", serve, 20)
        # The scheduler refreshes at once: the data was never fetched.
        deadline = time.monotonic() + 20
        headers = {"Authorization": "Bearer serve-read-token"}
        while httpx.get(f"http://127.0.0.1:{port}/get-all", headers=headers).json()["total"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert httpx.get(f"http://127.0.0.1:{port}/get-all").status_code == 401
    finally:
        serve.send_signal(signal.SIGINT)
        _, err = serve.communicate(timeout=30)
    lines = err.splitlines()
    assert lines[-1] == "supporthub: interrupted"  # the command's own word, not a log line
    entries = [json.loads(line) for line in lines[:-1]]  # every log line is JSON
    requests = [e for e in entries if e.get("event") == "request"]
    assert {(e["method"], e["path"], e["status"]) for e in requests} >= {
        ("GET", "/health", 200),
        ("GET", "/get-all", 401),
    }
    assert all(isinstance(e["durationMs"], float) for e in requests)
    refreshes = [e for e in entries if e.get("event") == "refresh"]
    assert refreshes[0]["report"]["trigger"] == "scheduled"
    assert "serve-secret-5678" not in err
    assert "serve-read-token" not in err
    assert serve.returncode == 130


class _FlakyHub:
    """A hub whose Strawberry fails the first ``failures`` refreshes."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def refresh(self, *, force: bool) -> RefreshReport:
        assert force
        self.calls += 1
        failing = self.calls <= self.failures
        now = dt.datetime.now(dt.UTC)
        return RefreshReport(
            started_at=now,
            finished_at=now,
            refreshed_at=now,
            trigger=Trigger.FORCED,
            full=False,
            sources={
                "banana": SourceReport(ok=True, fetched=5),
                "strawberry": SourceReport(ok=False, error="timed out")
                if failing
                else SourceReport(ok=True, fetched=7),
            },
        )


@pytest.mark.parametrize(("failures", "calls"), [(0, 1), (1, 2), (2, 3), (5, 3)])
def test_the_demo_retries_a_source_that_failed_its_first_refresh(
    failures: int, calls: int, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = _FlakyHub(failures)
    _first_refresh(hub, attempts=3)  # type: ignore[arg-type]
    assert hub.calls == calls
    out = capsys.readouterr().out
    assert out.count("strawberry: FAILED: timed out") == min(failures, 3)
    assert ("strawberry: 7 records" in out) == (failures < 3)


@pytest.mark.parametrize("command", ["demo", "serve"])
def test_a_port_in_use_is_one_clear_line_before_anything_starts(
    command: str, installed_fakedemo: dict[str, str], fake_crm: Any, tmp_path: Path
) -> None:
    env = {
        **installed_fakedemo,
        "SUPPORTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}",
        "SUPPORTHUB_FAKE_URL": str(fake_crm.path),
        "SUPPORTHUB_FAKE_TOKEN": "fake-secret-token-123",
    }
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "supporthub.cli", command, "--port", str(port)],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"cannot listen on 127.0.0.1:{port}: address already in use" in result.stderr
    assert "ready" not in result.stdout
    assert not (tmp_path / "fakedemo.log").exists(), "no simulated CRM was started"


def _workers_of(pid: int) -> list[int]:
    """The worker processes of ``serve --workers`` (not multiprocessing's helpers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [
        int(child)
        for child in children
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes()
    ]


@pytest.mark.slow
def test_serve_with_workers_refreshes_and_delivers_from_one_and_restarts_a_dead_one(
    installed_fakecrm, fake_crm, tmp_path
) -> None:
    port = free_port()
    env = _serve_env(installed_fakecrm, fake_crm, tmp_path)
    serve = start(["serve", "--port", str(port), "--workers", "2"], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(f"{base}/health", serve, 60)
        deadline = time.monotonic() + 60
        while len(workers := _workers_of(serve.pid)) < 2:
            assert time.monotonic() < deadline, workers
            time.sleep(0.1)
        # The scheduler (in one worker) refreshes at once: the data was never fetched.
        while httpx.get(f"{base}/get-all").json()["total"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(workers[1], signal.SIGKILL)
        while sorted(_workers_of(serve.pid)) in (sorted(workers), [workers[0]]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        for _ in range(20):
            assert httpx.get(f"{base}/get-all", params={"limit": 1}).json()["total"] == 1
    finally:
        serve.send_signal(signal.SIGTERM)
        out, err = serve.communicate(timeout=60)
    assert f"ready at {base}/ with 2 worker processes" in out
    assert err.count("scheduled refresh every") == 1  # the scheduler runs in one process
    assert err.count("delivering replies to") == 1  # and so does the deliverer
    assert "worker 2 (pid" in err
    assert "starting it again" in err
    assert not any(alive(pid) for pid in workers)
    assert "serve-secret-5678" not in err


def test_serve_refuses_a_worker_count_out_of_range(tmp_path) -> None:
    env = {**os.environ, "SUPPORTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'hub.db'}"}
    for count, words in (("0", "must be a whole number of 1 or more"), ("65", "between 1 and 64")):
        result = subprocess.run(
            [sys.executable, "-m", "supporthub.cli", "serve", "--port", "0", "--workers", count],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, result.stdout + result.stderr
        assert words in result.stderr
        assert "ready" not in result.stdout


def test_serve_ends_in_an_interrupt_when_uvicorn_stopped_for_sigint(monkeypatch, tmp_path) -> None:
    """Uvicorn's own second raise of the SIGINT can be lost in asyncio's handler
    (the command then ended with status 0 and no word); ``serve`` raises it."""
    import uvicorn

    import supporthub
    from supporthub.service import _server

    def shut_down_for(*signals: int) -> Any:
        def run(self: uvicorn.Server, sockets: Any = None) -> None:
            self._captured_signals = list(signals)  # as uvicorn's handler records them

        return run

    hub = supporthub.Hub.from_env({"SUPPORTHUB_DATABASE_URL": f"sqlite:///{tmp_path / 'h.db'}"})
    try:
        monkeypatch.setattr(uvicorn.Server, "run", shut_down_for(signal.SIGINT))
        with pytest.raises(KeyboardInterrupt):
            _server.serve(hub, host="127.0.0.1", port=0)
        monkeypatch.setattr(uvicorn.Server, "run", shut_down_for())  # no signal: it returns
        _server.serve(hub, host="127.0.0.1", port=0)
    finally:
        hub.close()

"""``supporthub demo``: simulated CRMs, SQLite and the service, all local, in one command.

The simulators come from plug-ins (the ``start_demo_crm`` hook), so the core
never imports one. The demo gives them a throw-away SQLite database in a
temporary folder, points the hub at them through their ``environment``,
runs the first refresh, serves, and on Ctrl-C (SIGINT) or SIGTERM stops the
service and every simulated CRM it started, then exits 0.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

from supporthub._hub import Hub
from supporthub._plugins import load_plugins
from supporthub._settings import Settings
from supporthub.hookspecs import DemoCrm
from supporthub.service._server import listen, serve

__all__ = ["DEMO_SEED", "MISSING_SIMULATORS", "run_demo"]

log = logging.getLogger("supporthub.demo")

#: Seed for the simulators' data: every demo shows the same cases.
DEMO_SEED = 20261120
#: Short enough that a newcomer sees the Refresh button come back to life.
DEMO_MIN_REFRESH_AGE_MINUTES = "1"
#: What to say when no plug-in has a simulator; one line, with the fix.
MISSING_SIMULATORS = (
    "supporthub demo: no installed plug-in provides a simulated CRM; "
    "install the bundled adapters: pip install supporthub-banana supporthub-strawberry"
)

EXIT_OK, EXIT_USAGE = 0, 2


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def _sigterm_as_ctrl_c() -> Iterator[None]:
    # SIGTERM must clean up like Ctrl-C. Uvicorn re-raises the signal that
    # stopped it once it has shut down; with this handler in place that
    # becomes a KeyboardInterrupt here too, instead of killing the process
    # before the simulated CRMs are stopped.
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stop_all(crms: list[DemoCrm]) -> None:
    # A second Ctrl-C must not leave the remaining simulators running.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for crm in crms:
            try:
                crm.stop()
            except Exception:
                log.exception("a simulated CRM (%s) did not stop cleanly", crm.ui_url)
    finally:
        signal.signal(signal.SIGINT, previous)


def _demo_settings(crms: list[DemoCrm], folder: Path) -> Settings:
    environ = dict(os.environ)
    for crm in crms:
        environ.update(crm.environment)
    environ["SUPPORTHUB_DATABASE_URL"] = f"sqlite:///{folder / 'demo.db'}"
    environ["SUPPORTHUB_MIN_REFRESH_AGE_MINUTES"] = DEMO_MIN_REFRESH_AGE_MINUTES
    return Settings.from_env(environ)


#: Attempts of the first refresh: a loaded machine can time out a local
#: simulator once, and the scheduler would only retry after its interval.
FIRST_REFRESH_ATTEMPTS = 3


def _first_refresh(hub: Hub, attempts: int = FIRST_REFRESH_ATTEMPTS) -> None:
    for attempt in range(1, attempts + 1):
        report = hub.refresh(force=True)
        for name, source in report.sources.items():
            outcome = f"{source.fetched} records" if source.ok else f"FAILED: {source.error}"
            print(f"  {name}: {outcome}", flush=True)
        if report.ok or attempt == attempts:
            return
        print("first refresh again, for the sources that failed…", flush=True)


def run_demo(
    *, host: str = "127.0.0.1", port: int = 8080, cases: int = 5000, seed: int = DEMO_SEED
) -> int:
    """Run the demo until Ctrl-C or SIGTERM; return the exit code.

    :param cases: simulated cases per CRM.
    """
    listener = listen(host, port)  # a port in use says so before anything starts
    plugins = load_plugins(Settings.from_env())
    crms: list[DemoCrm] = []
    with _sigterm_as_ctrl_c():
        try:
            print(f"starting the simulated CRMs ({cases} cases each)…", flush=True)
            crms = [
                crm
                for crm in plugins.hook.start_demo_crm(cases=cases, seed=seed)
                if crm is not None
            ]
            if not crms:
                print(MISSING_SIMULATORS, file=sys.stderr)
                return EXIT_USAGE
            for crm in crms:
                print(f"  simulated CRM at {crm.ui_url}", flush=True)
            with tempfile.TemporaryDirectory(prefix="supporthub-demo-") as folder:
                settings = _demo_settings(crms, Path(folder))
                with Hub(settings, plugins=plugins) as hub:
                    print("first refresh…", flush=True)
                    _first_refresh(hub)
                    url = f"http://{host}:{listener.getsockname()[1]}/"  # --port 0 too

                    def announce() -> None:
                        print(f"supporthub demo is ready at {url} (Ctrl-C stops it)", flush=True)

                    serve(hub, host=host, port=port, on_ready=announce, listener=listener)
        except KeyboardInterrupt:
            pass
        finally:
            listener.close()
            _stop_all(crms)
    print("supporthub demo stopped", flush=True)
    return EXIT_OK

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

import pluggy

from supporthub.hookspecs import DemoCrm
from supporthub.hub import Hub
from supporthub.ingest.plugins import collect_adapters, load_plugins
from supporthub.service._server import listen, listening_url, serve
from supporthub.vocabulary.models import RefreshReport
from supporthub.vocabulary.settings import Settings

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


def _first_refresh(hub: Hub, attempts: int = FIRST_REFRESH_ATTEMPTS) -> RefreshReport:
    for attempt in range(1, attempts + 1):
        report = hub.refresh(force=True)
        for name, source in report.sources.items():
            outcome = f"{source.fetched:,} records" if source.ok else f"FAILED: {source.error}"
            print(f"  {name}: {outcome}", flush=True)
        if report.ok or attempt == attempts:
            return report
        print("first refresh again, for the sources that failed…", flush=True)
    raise AssertionError("unreachable: the last attempt returns")


def _stored(hub: Hub, report: RefreshReport) -> Iterator[str]:
    """Per source, the cases the hub keeps when they are fewer than the records read."""
    cases = hub.counts().cases
    for name, source in report.sources.items():
        kept = cases.get(name, 0)
        if source.ok and kept < source.fetched:
            kinds = "deleted or unusable cases" if source.skipped else "deleted cases"
            yield (
                f"  {name}: {kept:,} cases kept; the other {source.fetched - kept:,} "
                f"records are {kinds}, which the hub does not keep"
            )


def _label(crm: DemoCrm, plugins: pluggy.PluginManager) -> str:
    # A simulator is the CRM whose URL variable it sets.
    for adapter in collect_adapters(plugins).values():
        if f"SUPPORTHUB_{adapter.name.upper()}_{adapter.enabling.upper()}" in crm.environment:
            crm_name = adapter.title if adapter.title.endswith("CRM") else f"{adapter.title} CRM"
            return f"{crm_name} (simulated)"
    return "simulated CRM"


@contextlib.contextmanager
def _quiet(*loggers: str) -> Iterator[None]:
    # The demo's own lines tell a newcomer what happens; the migration log
    # lines of the throw-away database would only bury them.
    previous = {name: logging.getLogger(name).level for name in loggers}
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        yield
    finally:
        for name, level in previous.items():
            logging.getLogger(name).setLevel(level)


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
            print(f"starting the simulated CRMs ({cases:,} cases each)…", flush=True)
            crms = [
                crm
                for crm in plugins.hook.start_demo_crm(cases=cases, seed=seed)
                if crm is not None
            ]
            if not crms:
                print(MISSING_SIMULATORS, file=sys.stderr)
                return EXIT_USAGE
            for crm in crms:
                print(f"  {_label(crm, plugins)}: {crm.ui_url}", flush=True)
            with tempfile.TemporaryDirectory(prefix="supporthub-demo-") as folder:
                settings = _demo_settings(crms, Path(folder))
                with Hub(settings, plugins=plugins) as hub:
                    with _quiet("alembic", "supporthub.store"):
                        hub.upgrade_db()
                    print("first refresh…", flush=True)
                    for line in _stored(hub, _first_refresh(hub)):
                        print(line, flush=True)
                    url = listening_url(host, listener)

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

"""The ``supporthub`` command: thin, every rule lives in the library.

Exit codes: 0 success (or nothing was due), 1 a source failed, 2 a usage or
configuration error, 3 the database failed, 130 interrupted.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import logging
import sys
from collections.abc import Sequence

import orjson

from supporthub.cli.new_adapter import new_adapter
from supporthub.cli.replies import REPLY_COMMANDS, add_reply_commands, run_replies
from supporthub.cli.steering import STEERING_COMMANDS, add_steering_commands, run_steering
from supporthub.cli.work import WORK_COMMANDS, add_work_commands, run_work
from supporthub.serialize import format_timestamp, to_json_dict
from supporthub.vocabulary.errors import (
    ConfigurationError,
    PluginError,
    RefreshInProgress,
    RefreshNotDue,
    StorageError,
    SupportHubError,
)
from supporthub.vocabulary.log_setup import configure_logging
from supporthub.vocabulary.models import RefreshReport
from supporthub.vocabulary.settings import Settings

__all__ = ["main"]

EXIT_OK, EXIT_SOURCE_FAILED, EXIT_USAGE, EXIT_DATABASE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

log = logging.getLogger("supporthub.cli")


def _port(text: str) -> int:
    # argparse's int would pass 70000, which the socket layer wraps to another port.
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"must be a whole number from 0 to 65535 (0: any free port), got {text!r}"
        )
    return port


def _case_count(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text!r}")
    return count


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="supporthub",
        description="Support Aggregation Hub: consolidate support cases from several CRMs.",
        epilog="Configuration comes from SUPPORTHUB_* environment variables; see the docs.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    refresh = commands.add_parser(
        "refresh",
        help="run one refresh, then exit (for cron)",
        description=(
            "Fetch what changed in the due sources and update the aggregated cases. "
            "Waits for a refresh that is already running, never overlaps it."
        ),
    )
    refresh.add_argument(
        "--force",
        action="store_true",
        help="fetch every enabled source now, ignoring the minimum age and the backoff",
    )
    refresh.add_argument(
        "--full",
        action="store_true",
        help="re-read every record and remove the cases the CRMs no longer list",
    )
    refresh.add_argument("--json", action="store_true", help="print the report as JSON")

    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="DB_COMMAND")
    upgrade = db_commands.add_parser(
        "upgrade",
        help="create or migrate the database schema, and regroup under new default rules",
        description=(
            "Create or migrate the schema. A database grouped by an older default rule set "
            "is regrouped under the current one: the same cases, overrides carried over, "
            "old aggregated case ids answering with their successor."
        ),
    )
    upgrade.add_argument(
        "--preview", action="store_true", help="only show what the regroup would do; change nothing"
    )
    upgrade.add_argument("--json", action="store_true", help="print the upgrade as JSON")

    for name, text in (
        ("serve", "the HTTP service with the scheduled refresh"),
        ("demo", "simulated CRMs, SQLite and the service, all local, in one command"),
    ):
        command = commands.add_parser(name, help=text, description=text)
        command.add_argument("--host", default="127.0.0.1", help="address to listen on")
        command.add_argument(
            "--port",
            type=_port,
            default=8000 if name == "serve" else 8080,
            help="port to listen on (0: any free port)",
        )
        if name == "serve":
            command.add_argument(
                "--workers",
                type=_case_count,  # the upper bound is the service's (MAX_WORKERS)
                default=1,
                help="processes serving requests (default 1); the scheduled refresh and "
                "the replies' deliverer run in one of them",
            )
        if name == "demo":
            command.add_argument(
                "--cases",
                type=_case_count,
                default=5000,
                help="simulated cases per CRM (default 5000)",
            )

    commands.add_parser("plugins", help="list the installed plug-ins, their versions and hooks")
    new = commands.add_parser(
        "new-adapter",
        help="write a new adapter plug-in package, contract tests included",
        description=(
            "Write the package supporthub-NAME: an adapter, a simulator of its CRM and a "
            "test module running the adapter contract suite, which passes as generated."
        ),
    )
    new.add_argument("name", metavar="NAME", help="the source name, e.g. acme")
    new.add_argument("--dir", default=".", help="folder to write the package into (default .)")
    add_steering_commands(commands)
    add_work_commands(commands)
    add_reply_commands(commands)
    return parser


def _print_report(report: RefreshReport) -> None:
    for name, source in report.sources.items():
        if not source.due:
            print(f"{name}: not due")
        elif source.ok:
            print(
                f"{name}: ok - fetched {source.fetched}, skipped {source.skipped}, "
                f"written {source.written}, deleted {source.deleted} "
                f"in {source.duration_seconds or 0:.2f} s"
            )
        else:
            print(f"{name}: FAILED - {source.error}")
    when = format_timestamp(report.refreshed_at) if report.refreshed_at else "never"
    print(f"data refreshed at: {when}")


def _refresh(settings: Settings, args: argparse.Namespace) -> int:
    from supporthub.hub import Hub  # noqa: PLC0415 - keeps `supporthub --help` fast

    # When the process ends after a refresh, its last garbage collection would
    # walk every object the imports made, for nothing: 0.05-0.1 s of a first
    # refresh's wall time (docs/performance.md). The hub is closed by then and
    # logging flushed by its own exit handler; the OS takes the rest.
    atexit.register(gc.freeze)
    with Hub(settings) as hub:
        try:
            report = hub.refresh(force=args.force, full=args.full)
        except RefreshNotDue as not_due:
            if args.json:
                print(orjson.dumps({"due": False, "error": str(not_due)}).decode())
            else:
                print(f"nothing was due: {not_due}")
            return EXIT_OK
    if args.json:
        print(orjson.dumps(to_json_dict(report)).decode())
    else:
        _print_report(report)
    return EXIT_OK if report.ok else EXIT_SOURCE_FAILED


def _db_upgrade(settings: Settings, args: argparse.Namespace) -> int:
    from supporthub.cli.steering import print_upgrade  # noqa: PLC0415
    from supporthub.hub import Hub  # noqa: PLC0415

    with Hub(settings) as hub:
        if args.preview:
            upgrade = hub.preview_upgrade()
        else:
            before = hub.store.revision()
            upgrade = hub.upgrade_db()
            after = hub.store.revision()
            where = hub.store.display_url
            if before is None:
                print(f"created the database schema at revision {after} ({where})")
            elif before != after:
                print(f"migrated the database schema from revision {before} to {after} ({where})")
            else:
                print(f"database schema is current at revision {after} ({where})")
    if args.json:
        print(orjson.dumps(to_json_dict(upgrade)).decode())
    else:
        print_upgrade(upgrade)
    return EXIT_OK


def _plugins(settings: Settings) -> int:
    from supporthub.ingest.plugins import list_plugins, load_plugins  # noqa: PLC0415

    for info in list_plugins(load_plugins(settings)):
        origin = f"{info.distribution} {info.version}" if info.distribution else "built in"
        print(f"{info.name} ({origin}): {', '.join(info.hooks) or 'no hooks'}")
    return EXIT_OK


def _service(settings: Settings, args: argparse.Namespace) -> int:
    try:
        from supporthub.service import run  # noqa: PLC0415 - the web stack is an extra
    except ImportError as missing:
        raise ConfigurationError(
            f"`supporthub {args.command}` needs the service extra ({missing.name} is missing): "
            "pip install 'supporthub[service]'"
        ) from None
    if args.command == "demo":
        from supporthub.service.demo import run_demo  # noqa: PLC0415

        exit_code: int = run_demo(host=args.host, port=args.port, cases=args.cases)
        return exit_code
    run(settings, host=args.host, port=args.port, workers=args.workers)
    return EXIT_OK


def _new_adapter(name: str, directory: str) -> int:
    try:
        target = new_adapter(name, directory)
    except (ConfigurationError, OSError) as error:
        print(f"supporthub: {error}", file=sys.stderr)
        return EXIT_USAGE
    print(f"wrote {target}")
    print(f"next: pip install -e '{target}[test]' && pytest {target}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "new-adapter":
        return _new_adapter(args.name, args.dir)
    try:
        settings = Settings.from_env()
        configure_logging(settings.log_level, settings.log_format)
        if args.command == "refresh":
            return _refresh(settings, args)
        if args.command == "db":
            return _db_upgrade(settings, args)
        if args.command == "plugins":
            return _plugins(settings)
        if args.command in STEERING_COMMANDS:
            return run_steering(settings, args)
        if args.command in WORK_COMMANDS:
            return run_work(settings, args)
        if args.command in REPLY_COMMANDS:
            return run_replies(settings, args)
        return _service(settings, args)
    except (ConfigurationError, PluginError) as error:
        print(f"supporthub: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except StorageError as error:
        print(f"supporthub: {error}", file=sys.stderr)
        return EXIT_DATABASE
    except RefreshInProgress as error:
        print(f"supporthub: {error}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    except SupportHubError as error:
        print(f"supporthub: {error}", file=sys.stderr)
        return EXIT_SOURCE_FAILED
    except KeyboardInterrupt:
        print("supporthub: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED

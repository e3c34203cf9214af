"""The command line's §7 commands: claim, work, history.

Thin like the rest of the CLI: each command is one library call. A lost
claim or a bad value prints the library's words and exits 1.
"""

from __future__ import annotations

import argparse
from typing import Any

import orjson

from supporthub.cli.steering import _who
from supporthub.hub import Hub
from supporthub.serialize import format_timestamp, to_json_dict
from supporthub.vocabulary.settings import Settings
from supporthub.vocabulary.work import UNSET, WorkState

__all__ = ["WORK_COMMANDS", "add_work_commands", "run_work"]

WORK_COMMANDS = frozenset({"claim", "work", "history"})


def add_work_commands(commands: Any) -> None:
    """Add ``claim``, ``work`` and ``history`` to the ``supporthub`` parser."""
    claim = commands.add_parser(
        "claim", help="take an aggregated case, unless somebody else owns it"
    )
    claim.add_argument("id", help="the aggregated case id")
    claim.add_argument("--by", default=_who(), help="who takes it (default: your login)")
    claim.add_argument("--note", help="a note kept with the change")

    work = commands.add_parser(
        "work", help="change the owner, state, tracker link or note of an aggregated case"
    )
    work.add_argument("id", help="the aggregated case id")
    work.add_argument("--by", default=_who(), help="who changes it (default: your login)")
    work.add_argument("--state", choices=[state.value for state in WorkState])
    owner = work.add_mutually_exclusive_group()
    owner.add_argument("--owner", help="who works on it")
    owner.add_argument("--release", action="store_true", help="nobody owns it any more")
    tracker = work.add_mutually_exclusive_group()
    tracker.add_argument("--tracker-url", help="the bug tracker's ticket (http or https)")
    tracker.add_argument("--clear-tracker-url", action="store_true")
    note = work.add_mutually_exclusive_group()
    note.add_argument("--note", help="a note, kept on it and in its history")
    note.add_argument("--clear-note", action="store_true")

    history = commands.add_parser("history", help="every change of an aggregated case's work")
    history.add_argument("id", help="the aggregated case id")

    for parser in (claim, work, history):
        parser.add_argument("--json", action="store_true", help="print JSON")


def _given(value: Any, clear: bool) -> Any:
    if clear:
        return None
    return UNSET if value is None else value


def run_work(settings: Settings, args: argparse.Namespace) -> int:
    """Run one §7 command; return the exit code."""
    with Hub(settings) as hub:
        if args.command == "history":
            entries = hub.history(args.id)
            if args.json:
                print(orjson.dumps(to_json_dict(entries), option=orjson.OPT_INDENT_2).decode())
                return 0
            for entry in entries:
                changes = ", ".join(f"{c.field}: {c.before} -> {c.after}" for c in entry.changes)
                note = f"  ({entry.note})" if entry.note else ""
                print(f"{format_timestamp(entry.at)}  {entry.by}  {changes}{note}")
            return 0
        if args.command == "claim":
            result = hub.claim(args.id, by=args.by, note=_given(args.note, False))
        else:
            result = hub.update_work(
                args.id,
                by=args.by,
                owner=_given(args.owner, args.release),
                state=UNSET if args.state is None else args.state,
                tracker_url=_given(args.tracker_url, args.clear_tracker_url),
                note=_given(args.note, args.clear_note),
            )
    if args.json:
        print(orjson.dumps(to_json_dict(result), option=orjson.OPT_INDENT_2).decode())
    else:
        print(f"{result.id}: owner {result.owner or '-'}, state {result.state.value}")
    return 0

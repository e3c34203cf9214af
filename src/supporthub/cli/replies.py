"""The command line's replies: ``supporthub reply`` and ``supporthub deliver``.

Thin like the rest of the CLI: ``reply`` is :meth:`Hub.reply` then
:meth:`Hub.deliver` following that reply, printed as a progress bar on a
terminal and as plain lines otherwise.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from supporthub.hub import Hub
from supporthub.vocabulary.replies import Reply
from supporthub.vocabulary.settings import Settings

__all__ = ["REPLY_COMMANDS", "add_reply_commands", "run_replies"]

REPLY_COMMANDS = frozenset({"reply", "deliver"})
_BAR = 30
_FAILURES_SHOWN = 20


def add_reply_commands(commands: Any) -> None:
    """Add ``reply`` and ``deliver`` to the ``supporthub`` parser."""
    reply = commands.add_parser(
        "reply",
        help="answer every customer of an aggregated case, and follow the delivery",
        description=(
            "Queue a reply to the cases of an aggregated case, deliver it (alongside any "
            "other hub process) and follow it to the end. Exit code 0 when every target "
            "was answered, 1 when some failed for good."
        ),
    )
    reply.add_argument("agg_id", metavar="AGG_ID", help="the aggregated case id")
    reply.add_argument("--message", required=True, help="the comment (1-4000 characters)")
    reply.add_argument("--by", required=True, help="who replies")
    reply.add_argument(
        "--set-status", choices=["pending", "solved"], help="also set each case's status"
    )
    reply.add_argument(
        "--scope", choices=["open", "all"], default="open", help="open cases (default) or all"
    )
    reply.add_argument("--auto", action="store_true", help="also answer open cases that join later")
    visibility = reply.add_mutually_exclusive_group()
    visibility.add_argument(
        "--public", dest="public", action="store_true", default=True, help="a public comment"
    )
    visibility.add_argument(
        "--internal", dest="public", action="store_false", help="an internal note instead"
    )
    deliver = commands.add_parser(
        "deliver",
        help="deliver the queued replies, then exit (for cron, or to resume after a crash)",
        description=(
            "Send the pending deliveries this process can send, alongside any other hub "
            "process, until none is left (or --reply ID is done). Exit code 1 when that "
            "reply has failures."
        ),
    )
    deliver.add_argument("--reply", metavar="REPLY_ID", help="follow this reply only")


class _Progress:
    """Prints a reply's progress: a bar redrawn in place on a terminal, else a line per change."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self._last: tuple[int, int, int] | None = None

    def __call__(self, reply: Reply) -> None:
        counts = (reply.delivered, reply.failed, reply.pending)
        if counts == self._last:
            return
        self._last = counts
        done = reply.delivered + reply.failed
        text = f"{reply.delivered} delivered, {reply.failed} failed, {reply.pending} pending"
        if self.tty:
            filled = _BAR * done // reply.targets if reply.targets else _BAR
            bar = "#" * filled + "." * (_BAR - filled)
            self.out.write(f"\r[{bar}] {done}/{reply.targets}  {text}   ")
        else:
            self.out.write(f"{done}/{reply.targets}: {text}\n")
        self.out.flush()

    def end(self) -> None:
        if self.tty and self._last is not None:
            self.out.write("\n")


def _summary(reply: Reply) -> None:
    failures = [case for case in reply.cases if case.state == "failed"]
    for case in failures[:_FAILURES_SHOWN]:
        print(f"  failed: {case.source} {case.case_id}: {case.error}")
    if len(failures) > _FAILURES_SHOWN:
        print(f"  … and {len(failures) - _FAILURES_SHOWN} more (GET /replies/{reply.id})")
    print(f"reply {reply.id}: {reply.state}")


def run_replies(settings: Settings, args: argparse.Namespace) -> int:
    """Run ``reply`` or ``deliver``; return the exit code."""
    with Hub(settings) as hub:
        reply_id = args.reply if args.command == "deliver" else None
        if args.command == "reply":
            accepted = hub.reply(
                args.agg_id,
                message=args.message,
                by=args.by,
                public=args.public,
                set_status=args.set_status,
                scope=args.scope,
                auto_reply=args.auto,
            )
            reply_id = accepted.id
            print(f"reply {accepted.id}: {accepted.targets} target case(s)", flush=True)
        progress = _Progress(sys.stdout)
        try:
            ended = hub.deliver(reply_id, progress=progress if reply_id else None)
        finally:
            progress.end()
    if ended is None:
        print("no delivery left that this process can send")
        return 0
    _summary(ended)
    return 1 if ended.failed else 0

"""The command line's steering commands: explain, overrides, rules, suggestions.

Thin like the rest of the CLI: each command is one library call, printed
for people (or as JSON with ``--json``).
"""

from __future__ import annotations

import argparse
import getpass
from typing import Any

import orjson

from supporthub.grouping.replay import ReplayDiff
from supporthub.hub import Hub
from supporthub.serialize import to_json_dict
from supporthub.steering.rule_changes import RuleChange
from supporthub.steering.upgrade import RulesUpgrade
from supporthub.vocabulary.settings import Settings

__all__ = [
    "STEERING_COMMANDS",
    "add_steering_commands",
    "print_diff",
    "print_upgrade",
    "run_steering",
]

STEERING_COMMANDS = frozenset(
    {"explain", "overrides", "merge", "move", "alias", "undo", "rules", "suggestions"}
)


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return "cli"


def add_steering_commands(commands: Any) -> None:
    """Add the steering commands to the ``supporthub`` parser."""
    explain = commands.add_parser("explain", help="why an aggregated case holds its cases")
    explain.add_argument("id", help="the aggregated case id")

    listing = commands.add_parser("overrides", help="list the operators' overrides")
    listing.add_argument("--all", action="store_true", help="include undone ones")

    def decision(name: str, text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = commands.add_parser(name, help=text, description=text)
        parser.add_argument("--by", default=_who(), help="who decides (default: your login)")
        parser.add_argument("--reason", required=name != "undo", default="", help="why")
        parser.add_argument("--dry-run", action="store_true", help="only show what would change")
        return parser

    merge = decision("merge", "merge one aggregated case into another, for good")
    merge.add_argument("from_id", help="the aggregated case that goes away")
    merge.add_argument("into_id", help="the aggregated case that receives its cases")
    move = decision("move", "move one case out of its aggregated case")
    move.add_argument("source", help="the case's source (banana, strawberry, …)")
    move.add_argument("source_id", help="the case's id in that source")
    move.add_argument("--into", dest="into_id", help="aggregated case id (default: its own)")
    alias = decision("alias", "make a provider spelling mean another provider")
    alias.add_argument("spelling")
    alias.add_argument("provider")
    undo = decision("undo", "undo an override")
    undo.add_argument("override_id", type=int)

    rules = commands.add_parser("rules", help="replay the configured rules over all cases")
    rules.add_argument("action", choices=["preview", "apply"])

    suggestions = commands.add_parser("suggestions", help="aliases and groups to consider")
    suggestions.add_argument("--accept", metavar="ID", help="accept this suggestion")
    suggestions.add_argument("--by", default=_who())
    suggestions.add_argument("--reason", default="accepted suggestion")
    suggestions.add_argument("--dry-run", action="store_true")

    for parser in (explain, listing, merge, move, alias, undo, rules, suggestions):
        parser.add_argument("--json", action="store_true", help="print JSON")


def _print_change(change: RuleChange) -> None:
    diff = change.diff
    verb = "applied" if change.applied else "would apply (dry run)"
    print(f"{verb}: {diff.moved_cases} case(s) move")
    for override in change.overrides:
        print(f"  override {override.id or '-'}: {override.kind} by {override.created_by}")
    for removed in change.removed:
        print(f"  override {removed} undone")
    print_diff(diff)


def print_upgrade(upgrade: RulesUpgrade) -> None:
    """A default rule set upgrade for people: the rule sets, the regroup, the overrides."""
    if upgrade.from_rules == upgrade.to_rules:
        print(f"grouping rules: {upgrade.to_rules}, nothing to upgrade")
        return
    verb = "regrouped" if upgrade.applied else "would regroup (preview)"
    print(
        f"grouping rules: {upgrade.from_rules} -> {upgrade.to_rules}: {verb}, "
        f"{upgrade.diff.moved_cases} case(s) move"
    )
    for carried in upgrade.overrides:
        if not carried.changed:
            continue
        original = carried.original
        if carried.becomes:
            print(f"  override {original.id} ({original.kind}) carried over to the new keys")
        else:
            print(f"  override {original.id} ({original.kind}) retired: {carried.reason}")
    print_diff(upgrade.diff)


def print_diff(diff: ReplayDiff) -> None:
    """Which aggregated cases appear, vanish, split and merge."""
    for title, ids in (("appear", diff.appeared), ("vanish", diff.vanished)):
        for agg_id in ids:
            print(f"  {title}: {agg_id}")
    for agg_id, parts in diff.splits.items():
        print(f"  split: {agg_id} -> {', '.join(parts)}")
    for agg_id, parts in diff.merges.items():
        print(f"  merge: {', '.join(parts)} -> {agg_id}")


def _run(hub: Hub, args: argparse.Namespace) -> Any:
    command = args.command
    if command == "explain":
        return hub.explain(args.id)
    if command == "overrides":
        return hub.overrides(include_removed=args.all)
    if command == "rules" and args.action == "preview":
        upgrade = hub.preview_upgrade()
        if not args.json and upgrade.pending:
            print_upgrade(upgrade)
            print("(applied by `supporthub db upgrade`; the configured rules under it:)")
        return hub.preview_rules()
    if command == "rules":
        return hub.apply_rules()
    if command == "suggestions" and not args.accept:
        return hub.suggestions()
    common = {"by": args.by, "dry_run": args.dry_run}
    if command == "suggestions":
        return hub.accept_suggestion(args.accept, reason=args.reason, **common)
    if command == "merge":
        return hub.merge(args.from_id, args.into_id, reason=args.reason, **common)
    if command == "move":
        return hub.move(
            args.source, args.source_id, into_id=args.into_id, reason=args.reason, **common
        )
    if command == "alias":
        return hub.add_alias(args.spelling, args.provider, reason=args.reason, **common)
    return hub.undo(args.override_id, **common)


def run_steering(settings: Settings, args: argparse.Namespace) -> int:
    """Run one steering command; return the exit code."""
    with Hub(settings) as hub:
        result = _run(hub, args)
    if args.json or not isinstance(result, RuleChange):
        print(orjson.dumps(to_json_dict(result), option=orjson.OPT_INDENT_2).decode())
    else:
        _print_change(result)
    return 0

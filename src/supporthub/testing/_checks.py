"""How a contract rule fails: one message shape for every rule."""

from __future__ import annotations

from collections.abc import Callable, Collection

import pytest

__all__ = ["check", "contract_failure", "sample"]


def contract_failure(rule: str, detail: str) -> str:
    """The message of a broken rule: ``contract rule '<rule>' broken: <detail>``."""
    return f"contract rule {rule!r} broken: {detail}"


def check(condition: object, rule: str, detail: str | Callable[[], str]) -> None:
    """Fail the test with the rule's message unless ``condition`` holds."""
    if not condition:
        text = detail() if callable(detail) else detail
        pytest.fail(contract_failure(rule, text), pytrace=False)


def sample(ids: Collection[str], count: int) -> str:
    """A few of ``ids`` for a message, and how many more there are."""
    shown = sorted(ids)[:count]
    more = f" and {len(ids) - count} more" if len(ids) > count else ""
    return ", ".join(shown) + more

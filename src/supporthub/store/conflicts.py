"""Galera's certification conflicts: a short transaction that lost is run again.

On a Galera cluster two nodes may commit conflicting writes at once; the
one certified second is rolled back and its commit fails with MariaDB's
deadlock error (1213, ``ER_LOCK_DEADLOCK``), as an InnoDB deadlock does on a
single server. Neither is a failure to report: the transaction ran against
a state that changed under it, and running it again is correct. Only short
transactions that can simply be run again use :func:`retry_conflicts`;
a whole refresh runs again too (it fetches again: its spool is gone), a
rule change or a rule upgrade runs its transaction again under the lock it
still holds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
import stamina

from supporthub.vocabulary.errors import StorageError

__all__ = ["CONFLICT_CODES", "is_conflict", "retry_conflicts"]

T = TypeVar("T")

log = logging.getLogger("supporthub.store")

#: ER_LOCK_DEADLOCK: Galera's certification failure and InnoDB's deadlock.
CONFLICT_CODES = frozenset({1213})


def is_conflict(error: BaseException) -> bool:
    """Whether ``error`` (SQLAlchemy's, the driver's, or a StorageError made of one) lost a race."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, sa.exc.DBAPIError):
            current = current.orig
            continue
        args = getattr(current, "args", ())
        if args and isinstance(args[0], int) and args[0] in CONFLICT_CODES:
            return True
        if isinstance(current, StorageError):
            current = current.__context__
            continue
        return False
    return False


def retry_conflicts(
    work: Callable[[], T],
    *,
    attempts: int = 5,
    wait_initial: float = 0.02,
    wait_max: float = 0.5,
    what: str | None = None,
) -> T:
    """Run ``work`` (one whole transaction), again when it lost a certification race.

    ``work`` must open and commit its own transaction, so that each attempt
    starts from the current state. With ``what`` (``"the refresh"``), each
    new attempt is logged as a warning: worth knowing when it is a long one.
    After ``attempts`` lost races the last error is raised.
    """
    for attempt in stamina.retry_context(
        on=is_conflict,
        attempts=attempts,
        wait_initial=wait_initial,
        wait_max=wait_max,
        wait_jitter=wait_initial,
        timeout=None,
    ):
        with attempt:
            if what is not None and attempt.num > 1:
                log.warning(
                    "%s lost a write conflict with another cluster node (Galera "
                    "certification, error 1213) and runs again: attempt %d of %d",
                    what,
                    attempt.num,
                    attempts,
                )
            return work()
    raise AssertionError("unreachable")  # pragma: no cover - stamina re-raises the last error

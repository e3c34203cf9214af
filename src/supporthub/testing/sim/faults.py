"""Fault switches shared by the CRM simulators.

A test flips a switch, runs the client, and sees how it copes::

    sim.faults.rate_limit_burst(2, retry_after=1)   # next 2 requests: 429
    sim.faults.error_burst(1, status=503)          # then one 503
    sim.faults.down()                              # connection refused
    sim.faults.malformed_records(share=0.01)       # broken records on pages
    sim.faults.lose_write_answers(1, how="reset")  # next write applied, answer lost
    sim.faults.error_burst(1, 503, writes_only=True)  # next write: 503, not applied
    sim.faults.reset()

Every switch is thread-safe and may be flipped while a client is running.
Bursts count requests: each answered request uses up one. The CRM-specific
shape of an error body is the simulator's business; this module only says
*which* fault hits *which* request.
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Final, Literal, Protocol

import attrs

__all__ = [
    "MALFORMED_KINDS",
    "WRITE_FAULTS",
    "WRITE_METHODS",
    "Faults",
    "Interception",
    "LostAnswer",
    "MalformedKind",
    "format_retry_after",
]

MalformedKind = Literal["missing_id", "wrong_type", "bad_timestamp"]

#: The ways a record can be broken: no id at all; a field of a JSON type the
#: spec does not allow; a timestamp that does not parse.
MALFORMED_KINDS: Final[tuple[MalformedKind, ...]] = ("missing_id", "wrong_type", "bad_timestamp")

_TRANSIENT_STATUSES: Final = frozenset({500, 502, 503, 504})

#: The methods that change a CRM's data: what ``writes_only`` and lost answers hit.
WRITE_METHODS: Final = frozenset({"POST", "PUT", "PATCH", "DELETE"})

LostHow = Literal["reset", "timeout"]


class Listener(Protocol):
    """What :meth:`Faults.down` and :meth:`Faults.up` act on: the server's socket."""

    def go_down(self) -> None:
        """Close the listening socket and reset every open connection."""

    def go_up(self) -> None:
        """Listen again on the same port."""


@attrs.frozen(slots=True)
class Interception:
    """A canned answer instead of the real one."""

    status: int
    retry_after: float | None
    """Seconds for a ``Retry-After`` header, or None for no header."""


@attrs.frozen(slots=True)
class LostAnswer:
    """A write that is applied, and whose answer never reaches the client."""

    how: LostHow
    """``reset``: the connection is reset instead of answered; ``timeout``:
    nothing comes back for :attr:`hold` seconds, then the connection is reset."""
    hold: float


@attrs.define
class _Burst:
    remaining: int
    status: int
    retry_after: float | None
    path_prefix: str | None
    writes_only: bool = False

    def hits(self, path: str, method: str) -> bool:
        return (
            self.remaining > 0
            and (self.path_prefix is None or path.startswith(self.path_prefix))
            and (not self.writes_only or method in WRITE_METHODS)
        )


@attrs.define
class _Loss:
    remaining: int
    answer: LostAnswer
    path_prefix: str | None
    method: str | None


class Faults:
    """The fault switches of one simulator. Thread-safe."""

    def __init__(self) -> None:
        """Start with every switch off."""
        self._lock = threading.Lock()
        self._listener: Listener | None = None
        self._is_down = False
        self._bursts: list[_Burst] = []
        self._slow_seconds = 0.0
        self._slow_remaining: int | None = 0
        self._malformed_share = 0.0
        self._malformed_ids: dict[str, MalformedKind] = {}
        self._malformed_kinds: tuple[MalformedKind, ...] = MALFORMED_KINDS
        self._bad_json_pages = 0
        self._losses: list[_Loss] = []

    def bind_listener(self, listener: Listener) -> None:
        """Let :meth:`down` and :meth:`up` reach the server (the simulator does this)."""
        self._listener = listener

    # -- switches --------------------------------------------------------

    def rate_limit_burst(
        self,
        n: int,
        retry_after: float = 1,
        *,
        path_prefix: str | None = None,
        writes_only: bool = False,
    ) -> None:
        """Answer the next ``n`` requests ``429`` with ``Retry-After: retry_after``.

        Nothing is applied: the answer comes before the CRM looks at the request.

        :param path_prefix: hit only requests whose path (below the base URL)
            starts with this; others pass and do not use up the burst.
        :param writes_only: hit only writes (:data:`WRITE_METHODS`).
        """
        self._add_burst(_Burst(n, 429, retry_after, path_prefix, writes_only))

    def error_burst(
        self,
        n: int,
        status: int = 503,
        retry_after: float | None = None,
        *,
        path_prefix: str | None = None,
        writes_only: bool = False,
    ) -> None:
        """Answer the next ``n`` requests with a transient server error, applying nothing.

        :param status: 500, 502, 503 or 504.
        :param retry_after: seconds for a ``Retry-After`` header, or None for none.
        :param path_prefix: as for :meth:`rate_limit_burst`.
        :param writes_only: as for :meth:`rate_limit_burst`.
        """
        if status not in _TRANSIENT_STATUSES:
            raise ValueError(f"status must be one of {sorted(_TRANSIENT_STATUSES)}")
        self._add_burst(_Burst(n, status, retry_after, path_prefix, writes_only))

    def _add_burst(self, burst: _Burst) -> None:
        if burst.remaining < 0:
            raise ValueError("n must not be negative")
        with self._lock:
            self._bursts.append(burst)

    def lose_write_answers(
        self,
        n: int,
        how: LostHow = "reset",
        *,
        hold: float = 2.0,
        path_prefix: str | None = None,
        method: str | None = None,
    ) -> None:
        """Apply the next ``n`` successful writes, but lose their answers.

        What makes idempotency keys necessary: the CRM did the work, the
        client cannot know it.

        :param how: ``reset`` resets the connection instead of answering;
            ``timeout`` sends nothing for ``hold`` seconds (make the client's
            timeout shorter), then resets.
        :param path_prefix: as for :meth:`rate_limit_burst`.
        :param method: hit only this method (``PATCH``), not every write.
        """
        if n < 0 or hold < 0:
            raise ValueError("n and hold must not be negative")
        if how not in ("reset", "timeout"):
            raise ValueError("how must be 'reset' or 'timeout'")
        with self._lock:
            self._losses.append(_Loss(n, LostAnswer(how, hold), path_prefix, method))

    def down(self) -> None:
        """Stop listening: new connections are refused, open ones are reset."""
        with self._lock:
            if self._is_down:
                return
            self._is_down = True
        if self._listener is not None:
            self._listener.go_down()

    def up(self) -> None:
        """Listen again, on the same port, after :meth:`down`."""
        with self._lock:
            if not self._is_down:
                return
            self._is_down = False
        if self._listener is not None:
            self._listener.go_up()

    @property
    def is_down(self) -> bool:
        """Whether :meth:`down` is in force."""
        with self._lock:
            return self._is_down

    def slow(self, seconds: float, n: int | None = None) -> None:
        """Delay answers by ``seconds``: the next ``n`` of them, or all while set."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        with self._lock:
            self._slow_seconds = seconds
            self._slow_remaining = n

    def malformed_records(
        self,
        share: float | None = None,
        ids: Iterable[str | int] | Mapping[str | int, MalformedKind] | None = None,
        *,
        kinds: Iterable[MalformedKind] = MALFORMED_KINDS,
    ) -> None:
        """Break some records on list pages (replaces any earlier setting).

        Which records break, and how, is a pure function of the record id,
        so the same records break on every page and every run.

        :param share: break about this share of all records (0 to 1).
        :param ids: break these records; a mapping also says how.
        :param kinds: the ways to break a record chosen by ``share`` or by a
            plain list of ``ids``.
        """
        chosen = tuple(kinds)
        if not chosen or any(kind not in MALFORMED_KINDS for kind in chosen):
            raise ValueError(f"kinds must be some of {MALFORMED_KINDS}")
        if share is not None and not 0.0 <= share <= 1.0:
            raise ValueError("share must lie between 0 and 1")
        explicit: dict[str, MalformedKind] = {}
        if isinstance(ids, Mapping):
            explicit = {str(key): kind for key, kind in ids.items()}
        elif ids is not None:
            explicit = {str(key): _pick_kind(str(key), chosen) for key in ids}
        with self._lock:
            self._malformed_share = share or 0.0
            self._malformed_ids = explicit
            self._malformed_kinds = chosen

    def bad_json_page(self, n: int = 1) -> None:
        """Answer the next ``n`` list pages ``200`` with a body that is not JSON."""
        with self._lock:
            self._bad_json_pages += n

    def reset(self) -> None:
        """Turn every switch off (and come back up after :meth:`down`)."""
        with self._lock:
            self._bursts = []
            self._slow_seconds = 0.0
            self._slow_remaining = 0
            self._malformed_share = 0.0
            self._malformed_ids = {}
            self._malformed_kinds = MALFORMED_KINDS
            self._bad_json_pages = 0
            self._losses = []
        self.up()

    # -- what the simulator asks ------------------------------------------

    def take_delay(self) -> float:
        """Seconds to delay the current answer (uses up one slow answer)."""
        with self._lock:
            if self._slow_seconds <= 0 or self._slow_remaining == 0:
                return 0.0
            if self._slow_remaining is not None:
                self._slow_remaining -= 1
            return self._slow_seconds

    def take_interception(self, path: str, method: str = "GET") -> Interception | None:
        """The canned answer for this request, if a burst hits it (uses it up)."""
        with self._lock:
            for burst in self._bursts:
                if burst.hits(path, method):
                    burst.remaining -= 1
                    return Interception(burst.status, burst.retry_after)
            self._bursts = [burst for burst in self._bursts if burst.remaining > 0]
            return None

    def take_lost_answer(self, path: str, method: str) -> LostAnswer | None:
        """How to lose the answer to this applied write, if a loss hits it (uses it up)."""
        if method not in WRITE_METHODS:
            return None
        with self._lock:
            for loss in self._losses:
                if (
                    loss.remaining > 0
                    and (loss.path_prefix is None or path.startswith(loss.path_prefix))
                    and (loss.method is None or loss.method == method)
                ):
                    loss.remaining -= 1
                    return loss.answer
            self._losses = [loss for loss in self._losses if loss.remaining > 0]
            return None

    def take_bad_json_page(self) -> bool:
        """Whether the current list page must be broken JSON (uses one up)."""
        with self._lock:
            if self._bad_json_pages > 0:
                self._bad_json_pages -= 1
                return True
            return False

    @property
    def breaks_records(self) -> bool:
        """Whether any record may be broken: lets the fast path skip the check."""
        with self._lock:
            return bool(self._malformed_share or self._malformed_ids)

    def malformed_kind(self, record_id: str | int) -> MalformedKind | None:
        """How to break the record with this id, or None to leave it whole."""
        key = str(record_id)
        with self._lock:
            kind = self._malformed_ids.get(key)
            if kind is not None:
                return kind
            share = self._malformed_share
            kinds = self._malformed_kinds
        if share and zlib.crc32(key.encode()) < share * 2**32:
            return _pick_kind(key, kinds)
        return None


#: Every fault a write can meet, by name; each switches it on for the next
#: write(s) of a simulator. ``answer lost to a timeout`` holds the answer back
#: 0.8 s: give the client a shorter timeout. The bursts of 6 outlast a client
#: that tries up to 5 times, so the caller has to repeat the write itself.
WRITE_FAULTS: Final[Mapping[str, Callable[[Faults], None]]] = {
    "answer lost to a reset": lambda f: f.lose_write_answers(1, "reset"),
    "answer lost to a timeout": lambda f: f.lose_write_answers(1, "timeout", hold=0.8),
    "every answer lost, then the caller repeats": lambda f: f.lose_write_answers(6, "reset"),
    "503 before applying": lambda f: f.error_burst(2, 503, writes_only=True),
    "500s outlasting the retries": lambda f: f.error_burst(6, 500, writes_only=True),
    "429 with Retry-After": lambda f: f.rate_limit_burst(2, retry_after=0.05, writes_only=True),
}


def format_retry_after(seconds: float) -> str:
    """A ``Retry-After`` value: whole seconds as an integer (``2``).

    Fractions (``0.2``) are kept so that tests need not sleep whole seconds;
    use them only with clients that parse them.
    """
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)


def _pick_kind(key: str, kinds: tuple[MalformedKind, ...]) -> MalformedKind:
    # A second, independent hash: which records break and how must not correlate.
    return kinds[zlib.crc32(b"kind:" + key.encode()) % len(kinds)]

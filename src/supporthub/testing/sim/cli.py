"""The command line both simulators share: serve until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable, Sequence
from types import FrameType

from supporthub.testing.sim.simulator import Simulator

__all__ = ["add_common_arguments", "serve_until_signalled"]


def add_common_arguments(parser: argparse.ArgumentParser, *, default_port: int) -> None:
    """Add ``--n``, ``--seed``, ``--host``, ``--port`` and ``--path-prefix``."""
    parser.add_argument("--n", type=int, default=1000, help="cases to generate (default 1000)")
    parser.add_argument("--seed", type=int, default=1, help="data seed (default 1)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=default_port, help=f"port (default {default_port}; 0: any)"
    )
    parser.add_argument(
        "--path-prefix", default="", help="a path the base URL carries, e.g. /tenant-a"
    )


def serve_until_signalled(
    simulator: Simulator,
    banner: Callable[[Simulator], Sequence[str]],
    *,
    print_line: Callable[[str], None] | None = None,
) -> int:
    """Start ``simulator``, print ``banner(simulator)``, serve until SIGINT/SIGTERM.

    :returns: 0, the exit code of a clean stop.
    """
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {
        signum: signal.signal(signum, request_stop) for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        with simulator:
            for line in banner(simulator):
                if print_line is None:
                    # Flushed at once: a parent process waits for the URL line.
                    print(line, flush=True)
                else:
                    print_line(line)
            # A timed wait: the signal handler runs between waits at the latest.
            while not stopping.wait(0.5):
                pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return 0

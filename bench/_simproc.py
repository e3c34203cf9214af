"""One CRM simulator in its own process, steered over stdin by the benchmark.

The simulators' mutation switch (:meth:`Simulator.mutate`) is a Python
method, and the simulator must not share a GIL with the refresh it serves,
so the benchmark runs each one here and talks to it in lines of JSON::

    python bench/_simproc.py banana 50000
    -> {"url": "http://127.0.0.1:…"}            (once it serves)
    <- {"mutate": {"update": 0.0025, "close": 0.0025, "delete": 0.0025, "add": 0.0025}}
    -> {"updated": 125, "closed": 125, "deleted": 125, "added": 125}
    <- {"quit": true}                             (or end of input)
"""

from __future__ import annotations

import sys
from typing import Any

import orjson


def make(kind: str, n: int) -> Any:
    """A started-to-be simulator of ``kind`` with ``n`` cases."""
    # The benchmark drives the plug-ins' simulators; the core never imports them.
    if kind == "banana":
        from supporthub_banana.simulator import BananaSimulator  # noqa: PLC0415, TID251

        return BananaSimulator(n=n, seed=1)
    from supporthub_strawberry.simulator import StrawberrySimulator  # noqa: PLC0415, TID251

    return StrawberrySimulator(n=n, seed=1)


def main() -> int:
    kind, n = sys.argv[1], int(sys.argv[2])
    with make(kind, n) as simulator:
        answer = {"url": simulator.url}
        if kind == "banana":
            answer |= {"client_id": simulator.client_id, "client_secret": simulator.client_secret}
        else:
            answer |= {"api_key": simulator.api_key}
        print(orjson.dumps(answer).decode(), flush=True)
        for line in sys.stdin:
            command = orjson.loads(line)
            if "mutate" in command:
                result = simulator.mutate(**command["mutate"])
                reply = {
                    name: len(getattr(result, name))
                    for name in ("updated", "closed", "deleted", "added")
                }
                print(orjson.dumps(reply).decode(), flush=True)
            elif command.get("quit"):
                break
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""One full refresh of a generated source, in a process of its own, for the scale test.

The source ``gen`` makes its cases on the fly (nothing held, no HTTP):
``SUPPORTHUB_GEN_URL=gen`` enables it, ``SUPPORTHUB_GEN_CASES`` says how
many, ``SUPPORTHUB_GEN_SUBJECT_BYTES`` how long each subject is. Every case
has the same ``updated_at`` in one sync, so a bigger sync updates every
case a smaller one wrote. Run as::

    python tests/cluster/scale_refresh.py URL CASES SUBJECT_BYTES FRAGMENT_BYTES

It prints one JSON line: ``{"ok": …, "seconds": …, "error": …}``; the
caller reads the process's peak memory from ``wait4``.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Iterator

import supporthub
from supporthub import Adapter, BatchBuilder, Case, Setting, Status, hookimpl

#: Cases per batch handed to the hub (a CRM page).
PAGE = 1000


class GeneratedAdapter(Adapter):
    name = "gen"
    title = "Generated CRM"
    settings = (
        Setting("url", "any value enables it"),
        Setting("cases", "how many cases"),
        Setting("subject_bytes", "length of each subject", required=False),
    )

    def fetch(self, cursor: str | None) -> Iterator[supporthub.Batch]:
        count = int(self.config["cases"])
        width = int(self.config.get("subject_bytes") or 200)
        stamp = dt.datetime(2026, 12, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=count)
        builder = BatchBuilder(self.name)
        for i in range(count):
            head = f"case {i}: payments fail at provider {i % 500} with E-{i % 13} "
            builder.add_case(
                Case(
                    source=self.name,
                    source_id=str(i),
                    number=str(i),
                    subject=(head * (width // len(head) + 1))[:width],
                    status=Status.OPEN if i % 3 else Status.CLOSED,
                    priority=None,
                    provider=f"Provider {i % 500}",
                    error_code=f"E-{i % 13}",
                    created_at=stamp,
                    updated_at=stamp,
                    url=None,
                )
            )
            if (i + 1) % PAGE == 0:
                yield builder.build(stamp.isoformat())
        yield builder.build(stamp.isoformat())


@hookimpl
def register_adapters(register):  # type: ignore[no-untyped-def]
    register(GeneratedAdapter)


def main() -> int:
    url, cases, subject_bytes, fragment_bytes = sys.argv[1:5]
    manager = supporthub.make_plugin_manager(entry_points=False)
    manager.register(sys.modules[__name__], name="gen")
    environ = {
        "SUPPORTHUB_DATABASE_URL": url,
        "SUPPORTHUB_GEN_URL": "gen",
        "SUPPORTHUB_GEN_CASES": cases,
        "SUPPORTHUB_GEN_SUBJECT_BYTES": subject_bytes,
        "SUPPORTHUB_MIN_REFRESH_AGE_MINUTES": "0",
    }
    hub = supporthub.Hub.from_env(environ, plugins=manager)
    hub.store.fragment_bytes = int(fragment_bytes)
    started = time.monotonic()
    try:
        report = hub.refresh(force=True, full=True)
        answer = {"ok": report.ok, "error": report.sources["gen"].error}
    except supporthub.SupportHubError as error:
        answer = {"ok": False, "error": str(error)}
    answer["seconds"] = round(time.monotonic() - started, 1)
    hub.close()
    print(json.dumps(answer), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A tiny CRM adapter for the core's tests: it reads records from a JSON file.

``SUPPORTHUB_FAKE_URL`` is a path to a JSON file holding a list of records::

    {"id": "1", "provider": "Acme", "error_code": "E-1", "status": "open",
     "updated_at": "2026-11-20T10:00:00Z", "deleted": false}

The cursor is the largest ``updated_at`` seen; a sync returns the records
with ``updated_at >=`` the cursor (inclusive, like the real CRMs).
``SUPPORTHUB_FAKE_FAIL_AFTER`` makes the sync fail after that many records.
``SUPPORTHUB_FAKE_TOKEN`` is a secret setting, required.
``SUPPORTHUB_FAKE_STARTED`` names a file the sync creates when it starts, so
that a test knows a refresh is under way (and holds the refresh lock).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

from supporthub import (
    Adapter,
    BatchBuilder,
    Case,
    MalformedRecord,
    Setting,
    SourceUnavailable,
    Status,
    Tombstone,
    hookimpl,
    read_id,
    read_optional_str,
    read_timestamp,
)


class FakeAdapter(Adapter):
    name = "fake"
    title = "Fake CRM"
    settings = (
        Setting("url", "path of the JSON file with the records"),
        Setting("token", "a secret that must never be logged", secret=True),
        Setting("fail_after", "fail after this many records", required=False),
        Setting("delay", "seconds to sleep before each batch", required=False),
        Setting("started", "file to create when a sync starts", required=False),
    )

    #: Every cursor a fetch was called with, for tests to assert on.
    cursors: list = []

    def fetch(self, cursor: str | None) -> Iterator:
        type(self).cursors.append(cursor)
        if self.config.get("started"):
            Path(self.config["started"]).touch()
        records = json.loads(Path(self.config["url"]).read_text())
        records.sort(key=lambda r: (r.get("updated_at") or "", str(r.get("id"))))
        fail_after = int(self.config.get("fail_after") or -1)
        delay = float(self.config.get("delay") or 0)
        builder = BatchBuilder(self.name)
        newest = cursor
        for count, record in enumerate(records):
            if count == fail_after:
                raise SourceUnavailable(f"Fake CRM broke after {count} records")
            if cursor is not None and (record.get("updated_at") or "") < cursor:
                continue
            try:
                source_id = read_id(record, "id")
                updated = read_timestamp(record, "updated_at")
                if record.get("deleted"):
                    builder.add_tombstone(Tombstone(source_id, updated))
                else:
                    builder.add_case(
                        Case(
                            source=self.name,
                            source_id=source_id,
                            number=source_id,
                            subject=read_optional_str(record, "subject"),
                            status=Status(record.get("status", "open")),
                            priority=None,
                            provider=read_optional_str(record, "provider", max_length=255),
                            error_code=read_optional_str(record, "error_code", max_length=255),
                            created_at=read_timestamp(record, "created_at")
                            if "created_at" in record
                            else updated,
                            updated_at=updated,
                            url=f"fake://{source_id}",
                        )
                    )
                newest = max(newest or "", record["updated_at"])
            except (MalformedRecord, ValueError) as error:
                builder.skip(str(error), record.get("id"))
            if (count + 1) % 3 == 0:
                time.sleep(delay)
                yield builder.build(newest)
        time.sleep(delay)  # the last batch too: every sync with a delay takes at least that long
        yield builder.build(newest)


@hookimpl
def register_adapters(register):
    register(FakeAdapter)

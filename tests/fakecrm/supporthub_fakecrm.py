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

Writing (replies): comments are kept in the folder ``<url>.writes/``, one
file per idempotency key (``comment-<key>``, made with ``O_EXCL``, so a
repeated key never makes a second comment, across processes too), and one
byte per attempt in ``attempts-<key>``. A record's ``write_refusal`` field
makes every write to it a final refusal with that reason; a case the file
does not hold is refused as deleted. Fault switches, counted per key:
``SUPPORTHUB_FAKE_WRITE_FAIL_FIRST`` (that many attempts fail transiently
before anything is applied), ``SUPPORTHUB_FAKE_WRITE_LOSE_FIRST`` (that many
attempts are applied but their answer is lost), ``SUPPORTHUB_FAKE_WRITE_RETRY_AFTER``
(the transient failures ask for that many seconds), and
``SUPPORTHUB_FAKE_WRITE_DELAY`` (seconds each write takes).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

from supporthub import (
    Adapter,
    BatchBuilder,
    Case,
    CaseWrite,
    CaseWriteResult,
    MalformedRecord,
    Setting,
    SourceRejected,
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
        Setting("write_fail_first", "attempts per key that fail before applying", required=False),
        Setting("write_lose_first", "attempts per key applied, answer lost", required=False),
        Setting("write_retry_after", "Retry-After of the transient failures", required=False),
        Setting("write_delay", "seconds each write takes", required=False),
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

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        folder = Path(self.config["url"] + ".writes")
        folder.mkdir(exist_ok=True)
        # Half the delay before applying and half after: a kill -9 lands as
        # often between applying and answering as before applying.
        delay = float(self.config.get("write_delay") or 0) / 2
        time.sleep(delay)
        key = write.idempotency_key
        with (folder / f"attempts-{key}").open("ab") as attempts_file:
            attempts_file.write(b".")
        attempt = (folder / f"attempts-{key}").stat().st_size
        if attempt <= int(self.config.get("write_fail_first") or 0):
            raise TransientWriteError(
                f"Fake CRM answered 503 (attempt {attempt})",
                float(self.config.get("write_retry_after") or 0) or None,
            )
        records = {r["id"]: r for r in json.loads(Path(self.config["url"]).read_text())}
        record = records.get(write.case_id)
        if record is None or record.get("deleted"):
            raise SourceRejected(f"Fake CRM: case {write.case_id} was deleted", status=404)
        if record.get("write_refusal"):
            raise SourceRejected(f"Fake CRM: {record['write_refusal']}", status=403)
        comment = {
            "case_id": write.case_id,
            "message": write.message,
            "public": write.public,
            "set_status": write.set_status,
        }
        # Written whole, then linked in: a kill -9 never leaves half a comment,
        # and the link fails when the key made its comment before.
        draft = folder / f"draft-{key}-{os.getpid()}-{time.monotonic_ns()}"
        draft.write_text(json.dumps(comment))
        try:
            os.link(draft, folder / f"comment-{key}")
            replayed = False
        except FileExistsError:
            replayed = True
        finally:
            draft.unlink()
        time.sleep(delay)
        if attempt <= int(self.config.get("write_fail_first") or 0) + int(
            self.config.get("write_lose_first") or 0
        ):
            raise TransientWriteError(
                "Fake CRM: the connection was reset before the answer",
                float(self.config.get("write_retry_after") or 0) or None,
            )
        return CaseWriteResult(comment_id=key, replayed=replayed)


class TransientWriteError(SourceUnavailable):
    """A transient write failure that asks for a wait, like a 429 with Retry-After."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def comments(url: str, key_prefix: str = "") -> list[dict]:
    """Every comment the fake CRM holds (for tests), with its idempotency key.

    :param key_prefix: only the comments whose key starts with this.
    """
    folder = Path(url + ".writes")
    found = []
    for path in sorted(folder.glob(f"comment-{key_prefix}*")) if folder.exists() else []:
        found.append({"key": path.name.removeprefix("comment-"), **json.loads(path.read_text())})
    return found


def attempts(url: str, key_prefix: str = "") -> dict[str, int]:
    """How many times each idempotency key was sent (for tests)."""
    folder = Path(url + ".writes")
    if not folder.exists():
        return {}
    return {
        path.name.removeprefix("attempts-"): path.stat().st_size
        for path in folder.glob(f"attempts-{key_prefix}*")
    }


@hookimpl
def register_adapters(register):
    register(FakeAdapter)

"""A test plug-in for ``supporthub demo``: simulated CRMs backed by the fake CRM.

``start_demo_crm`` writes generated records to a JSON file that the fake
adapter (``supporthub_fakecrm``) reads, and starts a helper process that
stands in for a simulator's server, so a test can check that the demo stops
every process it started. When ``FAKEDEMO_LOG`` names a file, each start
and stop is written there (``started <pid>`` / ``stopped <pid>``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from supporthub import hookimpl

PROVIDERS = ["Acme Payments", "ACME PAYMENTS INC", "Globex", "Initech", "Umbrella Corp"]
CODES = ["E-1042", "1042", "AUTH_FAILED", "E-500", None]


def _log(line: str) -> None:
    path = os.environ.get("FAKEDEMO_LOG")
    if path:
        with Path(path).open("a") as log:
            log.write(line + "\n")


class FakeDemoCrm:
    """One simulated CRM: a JSON file of records and a helper process."""

    def __init__(self, cases: int, seed: int) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="fakedemo-"))
        generator = random.Random(seed)
        records = [
            {
                "id": f"d{n}",
                "provider": generator.choice(PROVIDERS),
                "error_code": generator.choice(CODES),
                "status": generator.choice(["open", "closed"]),
                "subject": f"Demo case {n}",
                "updated_at": f"2026-11-{1 + n % 28:02d}T10:{n % 60:02d}:00Z",
            }
            for n in range(cases)
        ]
        records_file = self.folder / "records.json"
        records_file.write_text(json.dumps(records))
        self.process = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(600)"],
            stdin=subprocess.DEVNULL,
        )
        _log(f"started {self.process.pid}")
        self.environment = {
            "SUPPORTHUB_FAKE_URL": str(records_file),
            "SUPPORTHUB_FAKE_TOKEN": "fakedemo-secret-1234",
        }
        self.ui_url = records_file.as_uri()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)
        _log(f"stopped {self.process.pid}")


@hookimpl
def start_demo_crm(cases: int, seed: int) -> FakeDemoCrm:
    return FakeDemoCrm(cases, seed)

"""One source's fetch as a value: what to read, from where, keyed by which rules.

The same job runs in a fetch thread or, pickled, in a fetch process
(:mod:`.fetch_process`); either way it yields prepared batches.
"""

from __future__ import annotations

from collections.abc import Iterator

import attrs
import httpx

from supporthub.grouping.consolidate import KeyPipeline
from supporthub.ingest.prepare import PreparedBatch, prepare
from supporthub.kit.adapter import Adapter, SourceConfig
from supporthub.kit.http import HttpClient, RetryPolicy

__all__ = ["FetchJob"]


@attrs.frozen
class FetchJob:
    """Fetch ``source`` from ``cursor`` on (``None``: everything) and prepare its batches."""

    source: str
    adapter: type[Adapter]
    config: SourceConfig
    cursor: str | None
    pipeline: KeyPipeline
    policy: RetryPolicy

    def batches(self, transport: httpx.BaseTransport | None = None) -> Iterator[PreparedBatch]:
        """The source's batches, screened and keyed, as the adapter reads them."""
        http = HttpClient(
            self.adapter.base_url(self.config),
            title=self.adapter.title,
            policy=self.policy,
            transport=transport,
        )
        try:
            adapter = self.adapter(self.config, http)
            for batch in adapter.fetch(self.cursor):
                yield prepare(batch, self.source, self.pipeline)
        finally:
            http.close()

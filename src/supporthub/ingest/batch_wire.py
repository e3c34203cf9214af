"""A prepared batch as bytes: how it leaves a fetch process and how a spool spills it.

The rows are MessagePack (msgspec): pickling their datetimes cost about 20
times msgspec's encoder, under the GIL the writer needs. Keys travel as
their parts. A batch msgspec cannot encode (a value of a type it does not
know) is pickled whole; the first byte says which.
"""

from __future__ import annotations

import datetime as dt
import pickle
from typing import Any

import msgspec

from supporthub.ingest.prepare import PreparedBatch
from supporthub.vocabulary.models import AggregationKey

__all__ = ["pack", "unpack"]

_MSGPACK, _PICKLE = b"m", b"p"
_ENCODER = msgspec.msgpack.Encoder()
# Arrays back as tuples, timestamps back as aware UTC datetimes: the rows as they were.
_DECODER = msgspec.msgpack.Decoder(
    tuple[
        tuple[tuple[Any, ...], ...],
        tuple[tuple[str, str | None, str | None, tuple[tuple[str, str], ...]], ...],
        tuple[tuple[str, dt.datetime | None], ...],
        int,
        int,
        str | None,
    ]
)


def pack(batch: PreparedBatch) -> bytes:
    """``batch`` as bytes for :func:`unpack`."""
    keys = [(agg_id, k.provider_key, k.error_code_key, k.extra) for agg_id, k in batch.keys.items()]
    try:
        body = _ENCODER.encode(
            (batch.rows, keys, batch.tombstones, batch.fetched, batch.skipped, batch.cursor)
        )
    except (TypeError, ValueError, OverflowError):
        return _PICKLE + pickle.dumps(batch, protocol=pickle.HIGHEST_PROTOCOL)
    return _MSGPACK + body


def unpack(data: bytes | memoryview) -> PreparedBatch:
    """The batch :func:`pack` made ``data`` of (only ever the hub's own bytes)."""
    view = memoryview(data)
    if view[:1] == _PICKLE:
        batch: PreparedBatch = pickle.loads(view[1:])  # noqa: S301 - our own spill or child
        return batch
    rows, keys, tombstones, fetched, skipped, cursor = _DECODER.decode(view[1:])
    return PreparedBatch(
        rows=rows,
        keys={
            agg_id: AggregationKey(provider_key, error_code_key, extra)
            for agg_id, provider_key, error_code_key, extra in keys
        },
        tombstones=tombstones,
        fetched=fetched,
        skipped=skipped,
        cursor=cursor,
    )

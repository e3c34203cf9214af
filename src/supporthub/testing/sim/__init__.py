"""Building blocks of the CRM simulators: data, faults, the HTTP server, changes.

The Banana and Strawberry simulators (in their plug-in packages) are built
from these; a third CRM's plug-in can build its own the same way:
subclass :class:`Simulator` and supply the dialect.

Modules, one concept each:

* :mod:`~supporthub.testing.sim.datagen`: seeded, CRM-neutral case specs;
* :mod:`~supporthub.testing.sim.faults`: fault switches;
* :mod:`~supporthub.testing.sim.comments`: what clients wrote, per case;
* :mod:`~supporthub.testing.sim.request_log`: what clients asked;
* :mod:`~supporthub.testing.sim.server`: the HTTP/1.1 server;
* :mod:`~supporthub.testing.sim.store`: the ordered, pre-encoded records;
* :mod:`~supporthub.testing.sim.clock`: change timestamps;
* :mod:`~supporthub.testing.sim.simulator`: the base class tying them together;
* :mod:`~supporthub.testing.sim.timestamps`: wire formats of times;
* :mod:`~supporthub.testing.sim.cli`: the shared command line.
"""

from supporthub.testing.sim.cli import add_common_arguments, serve_until_signalled
from supporthub.testing.sim.clock import SimClock
from supporthub.testing.sim.comments import Comment, CommentStore
from supporthub.testing.sim.datagen import (
    DEFAULT_ANCHOR,
    MIN_N_FOR_ALL_MISSPELLINGS,
    CaseGenerator,
    CaseSpec,
    generate_cases,
    ms_to_datetime,
    typed_error_code,
)
from supporthub.testing.sim.faults import (
    MALFORMED_KINDS,
    WRITE_FAULTS,
    WRITE_METHODS,
    Faults,
    Interception,
    LostAnswer,
    MalformedKind,
    format_retry_after,
)
from supporthub.testing.sim.request_log import LoggedRequest, RequestLog
from supporthub.testing.sim.server import SimRequest, SimResponse, SimServer
from supporthub.testing.sim.simulator import JSONRecord, MutationResult, RecordId, Simulator
from supporthub.testing.sim.store import Page, RecordStore, encode_record
from supporthub.testing.sim.timestamps import (
    format_offset_ms,
    format_z_seconds,
    parse_offset_ms,
    parse_z_ns,
)

__all__ = [
    "DEFAULT_ANCHOR",
    "MALFORMED_KINDS",
    "MIN_N_FOR_ALL_MISSPELLINGS",
    "WRITE_FAULTS",
    "WRITE_METHODS",
    "CaseGenerator",
    "CaseSpec",
    "Comment",
    "CommentStore",
    "Faults",
    "Interception",
    "JSONRecord",
    "LoggedRequest",
    "LostAnswer",
    "MalformedKind",
    "MutationResult",
    "Page",
    "RecordId",
    "RecordStore",
    "RequestLog",
    "SimClock",
    "SimRequest",
    "SimResponse",
    "SimServer",
    "Simulator",
    "add_common_arguments",
    "encode_record",
    "format_offset_ms",
    "format_retry_after",
    "format_z_seconds",
    "generate_cases",
    "ms_to_datetime",
    "parse_offset_ms",
    "parse_z_ns",
    "serve_until_signalled",
    "typed_error_code",
]

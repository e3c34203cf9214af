"""Whether this process was started to stay out of the way (``nice``).

A refresh started with ``nice`` beside the service (docs/deploying.md) says
that the readers come first: it fetches in threads rather than in a process
per source (``ingest/refresh.py``) and sends its rows to the database batch
by batch rather than gathered into large loads (``store/loaddata.py``), so
that a core and the database have room for the readers between its steps.
"""

from __future__ import annotations

import os

__all__ = ["niced"]


def niced() -> bool:
    """Whether this process runs below normal priority (started with ``nice``)."""
    try:
        return os.getpriority(os.PRIO_PROCESS, 0) > 0
    except (AttributeError, OSError):  # not on a Unix
        return False

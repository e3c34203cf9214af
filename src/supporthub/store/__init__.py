"""Storage: the interface (``base``), the SQLAlchemy store, and its migrations."""

from supporthub.store.base import Store
from supporthub.store.sql import SCHEMA_REVISION, SqlStore

__all__ = ["SCHEMA_REVISION", "SqlStore", "Store"]

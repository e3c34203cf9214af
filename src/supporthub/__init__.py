"""supporthub: the Support Aggregation Hub as a library.

Pull support cases from several CRMs (adapters are plug-ins), consolidate
the ones that share a provider and an error code into aggregated cases,
keep them fresh in a SQL database, and query them::

    import supporthub

    with supporthub.Hub.from_env() as hub:
        hub.refresh(force=True)
        for aggregated in hub.search(status="open", limit=20).aggregated_cases:
            print(aggregated.provider, aggregated.error_code, aggregated.case_count)

Adapter authors need :class:`Adapter`, :class:`Batch`, :class:`Setting`,
:func:`hookimpl` and the field readers (``read_*``); see ``docs/``.

The names that need the database layer (:class:`Hub`, the JSON converter,
the steering answers) are imported when first used: an adapter plug-in, or
a refresh's fetch process, imports the kit without SQLAlchemy.
"""

import importlib
from typing import TYPE_CHECKING, Any

from supporthub.grouping.consolidate import (
    DefaultKey,
    KeyPipeline,
    KeyRule,
    ProviderAliases,
    consolidate,
)
from supporthub.grouping.normalize import error_code_key, provider_key
from supporthub.grouping.overrides import CaseRef, Override, OverrideKind
from supporthub.grouping.replay import ReplayDiff
from supporthub.hookspecs import hookimpl
from supporthub.ingest.plugins import load_plugins, make_plugin_manager
from supporthub.kit.adapter import (
    Adapter,
    Batch,
    BatchBuilder,
    CaseWrite,
    CaseWriteResult,
    Setting,
    SourceConfig,
)
from supporthub.kit.auth import ApiKeyAuth, ClientCredentialsAuth
from supporthub.kit.fields import (
    read_bool,
    read_id,
    read_optional_str,
    read_str,
    read_timestamp,
)
from supporthub.kit.http import HttpClient, RetryPolicy
from supporthub.kit.paging import CursorPaging, Listing, NextLinkPaging, Paging, fetch_pages
from supporthub.kit.ratelimit import (
    WriteLimiter,
    account_limiter,
    forget_limiters,
    write_rate_setting,
)
from supporthub.kit.records import (
    CustomFields,
    DecodedPage,
    Field,
    RecordFormat,
    case_url,
    custom_field_ids,
    id_field,
    parse_iso_timestamp,
    parse_timestamp,
)
from supporthub.kit.refusals import reword, reworded
from supporthub.kit.watermark import UNIX_SECONDS_CURSOR, ZULU_CURSOR, CursorFormat, Watermark
from supporthub.kit.writes import CaseWriter, WriteRules
from supporthub.query.listing import Query, SearchQuery
from supporthub.vocabulary.errors import (
    ClaimConflict,
    ConfigurationError,
    InvalidQuery,
    MalformedPage,
    MalformedRecord,
    Moved,
    NotFound,
    PluginError,
    RefreshInProgress,
    RefreshNotDue,
    SourceError,
    SourceRejected,
    SourceUnavailable,
    StorageError,
    SupportHubError,
)
from supporthub.vocabulary.models import (
    AggregatedCase,
    AggregationKey,
    Case,
    CasesPage,
    Counts,
    Health,
    Page,
    RefreshReport,
    SourceHealth,
    SourceReport,
    SourceState,
    Status,
    Tombstone,
    Trigger,
)
from supporthub.vocabulary.settings import ENVIRONMENT_VARIABLES, Settings
from supporthub.vocabulary.work import FieldChange, HistoryEntry, Lifecycle, WorkState

if TYPE_CHECKING:
    from supporthub.hub import Hub
    from supporthub.serialize import converter, format_timestamp, to_json_dict
    from supporthub.steering.explain import ExplainedValues, ExplainStep, Explanation
    from supporthub.steering.rule_changes import RuleChange
    from supporthub.steering.suggest import AliasSuggestion, GroupSuggestion, Suggestions

__version__ = "0.1.0"

#: The names imported when first used, with their modules.
_LAZY = {
    "Hub": "supporthub.hub",
    "converter": "supporthub.serialize",
    "format_timestamp": "supporthub.serialize",
    "to_json_dict": "supporthub.serialize",
    "ExplainedValues": "supporthub.steering.explain",
    "ExplainStep": "supporthub.steering.explain",
    "Explanation": "supporthub.steering.explain",
    "RuleChange": "supporthub.steering.rule_changes",
    "AliasSuggestion": "supporthub.steering.suggest",
    "GroupSuggestion": "supporthub.steering.suggest",
    "Suggestions": "supporthub.steering.suggest",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'supporthub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # once: later lookups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "ENVIRONMENT_VARIABLES",
    "UNIX_SECONDS_CURSOR",
    "ZULU_CURSOR",
    "Adapter",
    "AggregatedCase",
    "AggregationKey",
    "AliasSuggestion",
    "ApiKeyAuth",
    "Batch",
    "BatchBuilder",
    "Case",
    "CaseRef",
    "CaseWrite",
    "CaseWriteResult",
    "CaseWriter",
    "CasesPage",
    "ClaimConflict",
    "ClientCredentialsAuth",
    "ConfigurationError",
    "Counts",
    "CursorFormat",
    "CursorPaging",
    "CustomFields",
    "DecodedPage",
    "DefaultKey",
    "ExplainStep",
    "ExplainedValues",
    "Explanation",
    "Field",
    "FieldChange",
    "GroupSuggestion",
    "Health",
    "HistoryEntry",
    "HttpClient",
    "Hub",
    "InvalidQuery",
    "KeyPipeline",
    "KeyRule",
    "Lifecycle",
    "Listing",
    "MalformedPage",
    "MalformedRecord",
    "Moved",
    "NextLinkPaging",
    "NotFound",
    "Override",
    "OverrideKind",
    "Page",
    "Paging",
    "PluginError",
    "ProviderAliases",
    "Query",
    "RecordFormat",
    "RefreshInProgress",
    "RefreshNotDue",
    "RefreshReport",
    "ReplayDiff",
    "RetryPolicy",
    "RuleChange",
    "SearchQuery",
    "Setting",
    "Settings",
    "SourceConfig",
    "SourceError",
    "SourceHealth",
    "SourceRejected",
    "SourceReport",
    "SourceState",
    "SourceUnavailable",
    "Status",
    "StorageError",
    "Suggestions",
    "SupportHubError",
    "Tombstone",
    "Trigger",
    "Watermark",
    "WorkState",
    "WriteLimiter",
    "WriteRules",
    "__version__",
    "account_limiter",
    "case_url",
    "consolidate",
    "converter",
    "custom_field_ids",
    "error_code_key",
    "fetch_pages",
    "forget_limiters",
    "format_timestamp",
    "hookimpl",
    "id_field",
    "load_plugins",
    "make_plugin_manager",
    "parse_iso_timestamp",
    "parse_timestamp",
    "provider_key",
    "read_bool",
    "read_id",
    "read_optional_str",
    "read_str",
    "read_timestamp",
    "reword",
    "reworded",
    "to_json_dict",
    "write_rate_setting",
]

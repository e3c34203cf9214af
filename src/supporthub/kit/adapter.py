"""What a CRM adapter is: the contract every plug-in adapter fulfils.

An adapter is a class, registered through the ``register_adapters`` hook::

    class BananaAdapter(supporthub.Adapter):
        name = "banana"
        title = "Banana"
        settings = (
            Setting("url", description="Base URL"),
            Setting("client_id"),
            Setting("client_secret", secret=True),
        )

        def fetch(self, cursor):
            ...  # yield Batch objects

The contract:

1. **Settings.** Each :class:`Setting` is read from
   ``SUPPORTHUB_<NAME>_<SETTING>``. The source is *enabled* when its
   ``enabling`` setting (``url`` unless told otherwise) is set. An enabled
   source with a missing required setting fails in every refresh report with a
   clear error; the others still refresh.
2. **Fetching.** :meth:`Adapter.fetch` gets the cursor the adapter handed back
   after its last successful sync (``None``: read everything) and yields
   :class:`Batch` objects: the cases and tombstones changed since that cursor,
   in the CRM's order, with the count of records read and skipped. Every batch
   carries the cursor to resume from once it and all before it are stored;
   the last one is kept. Records repeated within a sync need no care: the hub
   keeps the latest ``updated_at`` per id.
3. **Bad data.** A malformed record is skipped and counted (``skipped``),
   never raised; a whole unusable answer raises :class:`MalformedPage`.
4. **Failures.** Use :attr:`Adapter.http` for every request: it retries what
   is transient and raises :class:`SourceUnavailable` or
   :class:`SourceRejected`. Any exception fails only this source, and the hub
   keeps its previous cases.
5. **Secrets and personal data.** Never put a secret setting's value, a
   contact e-mail or a requester into a case, an error or a log line.
6. **Writing (optional).** An adapter that can write back to its CRM
   overrides :meth:`Adapter.write_case`: post one comment (and set a status
   when asked) on one case, using :attr:`CaseWrite.idempotency_key` with the
   CRM's idempotency feature so that repeating the call, also after an answer
   was lost, never makes a second comment. Raise :class:`SourceRejected` for
   a final refusal (deleted case, closed ticket, missing write right) and
   :class:`SourceUnavailable` for what may work later (with
   :attr:`SourceUnavailable.retry_after` when the CRM said how long to
   wait). A CRM with a write rate limit overrides :meth:`Adapter.write_wait`.
"""

from __future__ import annotations

import abc
import logging
import re
from collections.abc import Iterator, Mapping
from typing import ClassVar

import attrs

from supporthub.kit.http import HttpClient
from supporthub.vocabulary.errors import ConfigurationError, SourceRejected
from supporthub.vocabulary.models import Case, Tombstone
from supporthub.vocabulary.replies import ReplyStatus

__all__ = [
    "Adapter",
    "Batch",
    "BatchBuilder",
    "CaseWrite",
    "CaseWriteResult",
    "ReplyStatus",
    "Setting",
    "SourceConfig",
]

log = logging.getLogger("supporthub.adapter")

_NAME = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


@attrs.frozen
class Setting:
    """One setting an adapter reads from ``SUPPORTHUB_<NAME>_<SETTING>``.

    :ivar name: lower-case, the ``<SETTING>`` part (``client_secret``).
    :ivar secret: its value is redacted from every log line and error.
    :ivar required: the source fails without it (when enabled).
    :ivar http_url: its value must be an ``http://`` or ``https://`` URL with a
        host; anything else is a :class:`ConfigurationError` when the hub is
        built, not an outage retried at every refresh.
    """

    name: str
    description: str = ""
    secret: bool = False
    required: bool = True
    default: str | None = None
    http_url: bool = False

    def variable(self, adapter_name: str) -> str:
        """The environment variable this setting is read from."""
        return f"SUPPORTHUB_{adapter_name.upper()}_{self.name.upper()}"


@attrs.frozen
class SourceConfig:
    """An adapter's settings as read from the environment.

    :ivar values: setting name to value, for the settings that are set.
    :ivar missing: required settings that are not set.
    """

    name: str
    values: Mapping[str, str] = attrs.field(repr=False)
    missing: tuple[str, ...] = ()

    def __getitem__(self, setting: str) -> str:
        try:
            return self.values[setting]
        except KeyError:
            raise ConfigurationError(
                f"{self.name}: setting {setting!r} is not set "
                f"(SUPPORTHUB_{self.name.upper()}_{setting.upper()})"
            ) from None

    def get(self, setting: str, default: str | None = None) -> str | None:
        """The value of ``setting``, or ``default`` when it is not set."""
        return self.values.get(setting, default)


@attrs.frozen
class Batch:
    """A slice of one sync: changed cases, tombstones, and what was read.

    :ivar fetched: records and tombstones read from the CRM for this batch,
        repeats and skipped ones included.
    :ivar skipped: records among them that could not be used.
    :ivar cursor: where to resume once this batch and every one before it
        are stored; ``None`` keeps the previous cursor.
    """

    cases: tuple[Case, ...] = ()
    tombstones: tuple[Tombstone, ...] = ()
    fetched: int = 0
    skipped: int = 0
    cursor: str | None = None


@attrs.frozen
class CaseWrite:
    """One write to one CRM case: a comment, and optionally a status.

    :ivar case_id: the case's id in its CRM (:attr:`Case.id`).
    :ivar message: the comment's text.
    :ivar public: visible to the customer (``True``) or an internal note.
    :ivar set_status: ``"pending"`` (waiting on the customer), ``"solved"``,
        or ``None`` to leave the status alone.
    :ivar idempotency_key: chosen by the hub, the same on every attempt of
        this write; at most 64 characters of ``[A-Za-z0-9._:-]``.
    """

    case_id: str
    message: str
    public: bool
    idempotency_key: str
    set_status: ReplyStatus | None = None


@attrs.frozen
class CaseWriteResult:
    """What the CRM answered to a :class:`CaseWrite`.

    :ivar comment_id: the CRM's id of the comment, when it says one.
    :ivar replayed: the CRM had applied this write before (an earlier attempt
        whose answer was lost); nothing new was created.
    """

    comment_id: str | None = None
    replayed: bool = False


class BatchBuilder:
    """Collects one page of records into a :class:`Batch`.

    It counts what was read and skipped, and logs a skipped record's id and
    reason (never its content, which may hold personal data).
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self._cases: list[Case] = []
        self._tombstones: list[Tombstone] = []
        self._fetched = 0
        self._skipped = 0

    def add_case(self, case: Case) -> None:
        """Add a case read from the CRM."""
        self._fetched += 1
        self._cases.append(case)

    def add_tombstone(self, tombstone: Tombstone) -> None:
        """Add a deleted record read from the CRM."""
        self._fetched += 1
        self._tombstones.append(tombstone)

    def skip(self, reason: str, record_id: object = None) -> None:
        """Count a record that could not be used, and say why in the log."""
        self._fetched += 1
        self._skipped += 1
        shown = record_id if isinstance(record_id, str | int) else "<no id>"
        log.warning("%s: skipped malformed record %s: %s", self.source, shown, reason)

    def build(self, cursor: str | None) -> Batch:
        """Return the batch collected so far and start a new one."""
        batch = Batch(
            cases=tuple(self._cases),
            tombstones=tuple(self._tombstones),
            fetched=self._fetched,
            skipped=self._skipped,
            cursor=cursor,
        )
        self._cases.clear()
        self._tombstones.clear()
        self._fetched = self._skipped = 0
        return batch


class Adapter(abc.ABC):
    """A CRM adapter; the module docstring is its contract.

    :cvar name: the source name, lower case (``banana``); also the
        ``<NAME>`` of its environment variables.
    :cvar title: the CRM's name for people (``Banana``).
    :cvar settings: what it reads from the environment.
    :cvar enabling: the setting whose presence enables the source.
    :ivar config: the settings' values.
    :ivar http: the shared HTTP client, with the source's base URL.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    settings: ClassVar[tuple[Setting, ...]] = (Setting("url", "Base URL of the CRM"),)
    enabling: ClassVar[str] = "url"

    def __init__(self, config: SourceConfig, http: HttpClient) -> None:
        self.config = config
        self.http = http

    @classmethod
    def base_url(cls, config: SourceConfig) -> str:
        """The base URL the shared HTTP client is built with."""
        return config["url"]

    @abc.abstractmethod
    def fetch(self, cursor: str | None) -> Iterator[Batch]:
        """Yield the changes since ``cursor`` (everything when ``None``), in batches.

        :param cursor: what the last batch of the last successful sync
            carried, or ``None`` for a full read.
        :raises SourceError: this source fails; the hub keeps its previous cases.
        """

    def write_case(self, write: CaseWrite) -> CaseWriteResult:
        """Post a comment on one case (and set its status when asked).

        The default refuses: this adapter cannot write to its CRM.

        :param write: what to write, with the hub's idempotency key.
        :raises SourceRejected: the CRM refuses for good; do not retry.
        :raises SourceUnavailable: a transient failure; retry later with
            the same :attr:`CaseWrite.idempotency_key`.
        """
        raise SourceRejected(f"the {self.title} adapter cannot write to its CRM")

    def write_wait(self) -> float:
        """Seconds before :meth:`write_case` may send without outrunning the CRM's
        write rate limit (0: now). A deliverer asks this to hold off or to
        serve another CRM meanwhile; :meth:`write_case` itself waits this long
        when called early. The default: no client-side limit.
        """
        return 0.0

    @classmethod
    def can_write(cls) -> bool:
        """Whether this adapter overrides :meth:`write_case`."""
        return cls.write_case is not Adapter.write_case

    @classmethod
    def check_class(cls) -> None:
        """Reject an adapter class that cannot work, naming the problem.

        :raises PluginError: when the name, title or settings are wrong.
        """
        from supporthub.vocabulary.errors import PluginError  # noqa: PLC0415 - avoid a cycle at import

        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not _NAME.match(name):
            raise PluginError(
                f"adapter {cls.__qualname__}: name must match {_NAME.pattern}, got {name!r}"
            )
        if not isinstance(getattr(cls, "title", None), str):
            raise PluginError(f"adapter {name!r}: title must be a string")
        names = [s.name for s in cls.settings]
        if len(set(names)) != len(names) or cls.enabling not in names:
            raise PluginError(
                f"adapter {name!r}: settings must have unique names and include {cls.enabling!r}"
            )

"""The one small interface every CRM connector implements, and the typed records it yields.

Raw API dicts never leave a connector: it yields the frozen, canonical records below. A
connector knows nothing of storage, rules or Slack; the caller (``syncd.sync``) stores each
:class:`Page` together with its ``checkpoint`` in one transaction, and passes the last stored
checkpoint back on the next run, so a crash loses nothing and the next run resumes.

Errors, grouped by what the caller must do::

    ConnectorError                 base; never raised itself
    ├── AuthError                  fatal: the token is wrong, expired, or lacks a scope
    ├── RateLimitError             transient: still rate limited after the bounded retry time
    ├── UpstreamError              transient: 5xx, timeouts, dropped connections after retries
    └── ProtocolError              fatal for this run: the CRM answered something unusable

Every message says what failed, where, and what to do; none ever contains a credential.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar, overload

ObjectName = Literal["owners", "pipelines", "companies", "contacts", "deals"]
#: The order a sync runs in: what later objects refer to comes first.
SYNC_ORDER: tuple[ObjectName, ...] = ("owners", "pipelines", "companies", "contacts", "deals")
#: Objects synced incrementally on a modified-date cursor (the others are small and read whole).
INCREMENTAL_OBJECTS: tuple[ObjectName, ...] = ("companies", "contacts", "deals")


# --------------------------------------------------------------------------- errors


class ConnectorError(Exception):
    """Base of every error a connector raises. ``str(err)`` is one line for the user."""


class AuthError(ConnectorError):
    """The credentials are refused (401) or lack a permission (403). Fatal: do not retry."""

    def __init__(self, message: str, *, missing_scope: str | None = None) -> None:
        super().__init__(message)
        self.missing_scope = missing_scope


class RateLimitError(ConnectorError):
    """Still rate limited once the bounded retry time ran out. Transient: retry later."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamError(ConnectorError):
    """The CRM failed (5xx, timeout, dropped connection) and retries ran out. Transient."""


class ProtocolError(ConnectorError):
    """The CRM answered with something the connector cannot use (not JSON, wrong shape)."""


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    email: str | None
    first_name: str | None
    last_name: str | None
    user_id: str | None
    teams: tuple[str, ...] = ()
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Stage:
    id: str
    pipeline_id: str
    label: str
    display_order: int
    probability: float | None  # 0.0-1.0; None when the CRM gives none
    is_closed: bool
    is_won: bool


@dataclass(frozen=True, slots=True)
class Pipeline:
    id: str
    label: str
    display_order: int
    stages: tuple[Stage, ...]
    archived: bool = False


@dataclass(frozen=True, slots=True)
class StageVisit:
    """A deal's time in one stage, from the CRM's stage-entered/exited dates."""

    stage_id: str
    entered_at: datetime
    exited_at: datetime | None


@dataclass(frozen=True, slots=True)
class Deal:
    id: str
    name: str | None
    amount: Decimal | None
    currency: str | None
    pipeline_id: str | None
    stage_id: str | None
    owner_id: str | None
    created_at: datetime | None
    close_date: datetime | None
    mrr: Decimal | None
    deal_type: str | None
    modified_at: datetime | None
    company_ids: tuple[str, ...] = ()
    stage_history: tuple[StageVisit, ...] = ()
    custom: Mapping[str, str | None] = field(default_factory=dict)
    archived: bool = False
    archived_at: datetime | None = None
    #: What could not be parsed, e.g. ``"amount: 'abc' is not a number"``. The record is kept
    #: with the valid fields; these are counted and reported, never fatal.
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Company:
    id: str
    name: str | None
    domain: str | None
    segment: str | None
    lifecycle_stage: str | None
    customer_since: datetime | None
    churned_at: datetime | None
    owner_id: str | None
    created_at: datetime | None
    modified_at: datetime | None
    custom: Mapping[str, str | None] = field(default_factory=dict)
    archived: bool = False
    archived_at: datetime | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Contact:
    id: str
    email: str | None
    lifecycle_stage: str | None
    company_id: str | None
    owner_id: str | None
    created_at: datetime | None
    modified_at: datetime | None
    became_lead_at: datetime | None = None
    became_mql_at: datetime | None = None
    became_sql_at: datetime | None = None
    became_opportunity_at: datetime | None = None
    became_customer_at: datetime | None = None
    custom: Mapping[str, str | None] = field(default_factory=dict)
    archived: bool = False
    archived_at: datetime | None = None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A record the CRM reports as archived/deleted."""

    id: str
    archived_at: datetime | None


Record = Owner | Pipeline | Company | Contact | Deal | Tombstone
R = TypeVar("R", Owner, Pipeline, Company, Contact, Deal, Tombstone)


class LazyRecords(Sequence[R]):
    """Records parsed on first use from raw pages kept as bytes.

    A connector may yield these instead of a list: they pickle as the raw bytes plus the
    connector's own (picklable) decoder, so the caller can hand a page to another process,
    which does the parsing there. Raw API data still only ever turns into records through the
    connector's code. ``len()`` is known without parsing.
    """

    __slots__ = ("_chunks", "_count", "_decode", "_records")

    def __init__(
        self, chunks: list[bytes], count: int, decode: Callable[[bytes], list[R]]
    ) -> None:
        self._chunks = chunks
        self._count = count
        self._decode: Callable[[bytes], list[R]] = decode
        self._records: list[R] | None = None

    def _all(self) -> list[R]:
        if self._records is None:
            self._records = [r for chunk in self._chunks for r in self._decode(chunk)]
        return self._records

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> R: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[R]: ...
    def __getitem__(self, index: int | slice) -> R | Sequence[R]:
        return self._all()[index]

    def __iter__(self) -> Iterator[R]:
        return iter(self._all())

    def joined(self, other: Sequence[R]) -> LazyRecords[R] | None:
        """Both pages as one, still unparsed; None when they cannot be joined that way."""
        if isinstance(other, LazyRecords) and other._decode == self._decode:
            return LazyRecords(self._chunks + other._chunks, self._count + other._count,
                               self._decode)
        return None

    def __getstate__(self) -> tuple[list[bytes], int, Callable[[bytes], list[R]]]:
        return (self._chunks, self._count, self._decode)  # never the parsed records

    def __setstate__(self, state: tuple[list[bytes], int, Callable[[bytes], list[R]]]) -> None:
        chunks, count, decode = state
        self._chunks, self._count, self._decode = chunks, count, decode
        self._records = None


@dataclass(frozen=True, slots=True)
class Page(Generic[R]):
    """One page of records and where to resume once it is stored.

    ``checkpoint`` is JSON-able and opaque to the caller: store it in the same transaction as
    ``records`` and pass it back as ``state`` next time. ``done`` is true on the last page of a
    pass; its checkpoint is the starting point of the next incremental sync.
    """

    records: Sequence[R]
    checkpoint: Mapping[str, Any]
    api_calls: int
    done: bool = False
    total: int | None = None  # how many records the pass will yield, when the CRM says


# --------------------------------------------------------------------------- config


@dataclass(frozen=True, slots=True)
class FieldMap:
    """Where this CRM keeps what the metrics need: canonical name -> CRM property.

    ``deal``: ``mrr``, ``deal_type``; ``company``: ``segment``, ``churned_at``; any other key is
    a custom property synced into the record's ``custom`` mapping under that key.
    """

    deal: Mapping[str, str] = field(default_factory=dict)
    company: Mapping[str, str] = field(default_factory=dict)
    contact: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ObjectAccess:
    object: str
    readable: bool
    detail: str  # e.g. "1,204 records" or "missing scope crm.objects.deals.read"


@dataclass(frozen=True, slots=True)
class AccessReport:
    """What the credentials can see, for ``syncd check``."""

    account: str  # portal id / org name, never a credential
    objects: tuple[ObjectAccess, ...]


@dataclass(slots=True)
class CallStats:
    """Counters a connector keeps while it runs (read by the sync summary and metrics)."""

    api_calls: int = 0
    retries: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    waited_seconds: float = 0.0


# --------------------------------------------------------------------------- interface


class Connector(ABC):
    """A CRM, seen as pages of canonical records."""

    name: str
    stats: CallStats

    @abstractmethod
    def fetch(
        self, obj: ObjectName, state: Mapping[str, Any] | None, until: datetime
    ) -> Iterator[Page[Any]]:
        """Yield pages of ``obj`` changed since ``state`` (None: everything), up to ``until``.

        ``until`` is the sync's start time: records modified later are left for the next run,
        and no checkpoint ever moves past it.
        """

    @abstractmethod
    def fetch_archived(
        self, obj: ObjectName, state: Mapping[str, Any] | None
    ) -> Iterator[Page[Tombstone]]:
        """Yield pages of the records of ``obj`` the CRM reports as archived/deleted."""

    @abstractmethod
    def check(self) -> AccessReport:
        """Call the CRM once per object and say what the credentials can read."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

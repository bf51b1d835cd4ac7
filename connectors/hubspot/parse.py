"""Raw HubSpot JSON -> canonical records. Tolerant: a bad field becomes None plus a problem.

HubSpot sends every property as a string or null. Datetime properties come as ISO-8601 with
milliseconds (``2026-11-02T10:15:30.123Z``), sometimes as epoch milliseconds; ``date``
properties as ``2026-11-02`` (midnight UTC). Anything unparseable is kept out of the typed field
and described in the record's ``problems`` (with the raw value, so nothing is lost).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import orjson

from connectors.base import Company, Contact, Deal, Owner, Pipeline, Stage, StageVisit, Tombstone

_EPOCH_MS = re.compile(r"^-?\d{10,14}$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")

#: Contact lifecycle stages whose "became X" date the metrics need.
LIFECYCLE_DATES: dict[str, str] = {
    "became_lead_at": "hs_lifecyclestage_lead_date",
    "became_mql_at": "hs_lifecyclestage_marketingqualifiedlead_date",
    "became_sql_at": "hs_lifecyclestage_salesqualifiedlead_date",
    "became_opportunity_at": "hs_lifecyclestage_opportunity_date",
    "became_customer_at": "hs_lifecyclestage_customer_date",
}


class Fields:
    """Reads typed values out of one raw record's properties, collecting problems."""

    __slots__ = ("problems", "props")

    def __init__(self, props: Mapping[str, Any]) -> None:
        self.props = props
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        value = self.props.get(name)
        if value is None:
            return None
        value = (value if type(value) is str else str(value)).strip()
        if "\x00" in value:  # PostgreSQL refuses NUL in text; it never means anything here
            self.problems.append(f"{name}: contained NUL characters (removed)")
            value = value.replace("\x00", "")
        return value or None

    def number(self, name: str) -> Decimal | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = Decimal(raw)
        except InvalidOperation:
            self.problems.append(f"{name}: {raw[:60]!r} is not a number")
            return None
        if not value.is_finite():
            self.problems.append(f"{name}: {raw[:60]!r} is not a finite number")
            return None
        return value

    def when(self, name: str) -> datetime | None:
        value = self.props.get(name)
        if value is None:  # the common case for stage and lifecycle dates: checked first
            return None
        if type(value) is str and value[-1:] == "Z":  # HubSpot's own form, e.g. ...30.123Z
            try:
                return datetime.fromisoformat(value)  # tzinfo is UTC itself
            except ValueError:
                pass  # the careful path below says what is wrong
        raw = self.text(name)
        if raw is None:
            return None
        parsed = parse_datetime(raw)
        if parsed is None:
            self.problems.append(f"{name}: {raw[:60]!r} is not a date")
        return parsed

    def currency(self, name: str) -> str | None:
        raw = self.text(name)
        if raw is None:
            return None
        code = raw.upper()
        if not _CURRENCY.match(code):
            self.problems.append(f"{name}: {raw[:60]!r} is not an ISO 4217 currency code")
            return None
        return code


def parse_datetime(raw: str) -> datetime | None:
    """ISO-8601 (with ``Z`` or an offset), a bare date, or epoch milliseconds -> aware UTC."""
    if raw.isdigit() or (raw[:1] == "-" and raw[1:].isdigit()):  # epoch milliseconds
        if not _EPOCH_MS.match(raw):
            return None
        try:
            return datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)


def to_epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _custom(
    fields: Fields, mapping: Mapping[str, str], known: frozenset[str]
) -> dict[str, str | None]:
    return {key: fields.text(prop) for key, prop in mapping.items() if key not in known}


def _archived_at(raw: Mapping[str, Any], fields: Fields) -> datetime | None:
    value = raw.get("archivedAt")
    if not value:
        return None
    parsed = parse_datetime(str(value))
    if parsed is None:
        fields.problems.append(f"archivedAt: {str(value)[:60]!r} is not a date")
    return parsed


DEAL_KNOWN = frozenset({"mrr", "deal_type"})
COMPANY_KNOWN = frozenset({"segment", "churned_at"})


class DealParser:
    """Parses deals; knows the pipelines' stages to read stage history and flag unknown ids."""

    def __init__(self, mapping: Mapping[str, str], pipelines: list[Pipeline]) -> None:
        self.mapping = dict(mapping)  # a plain dict: parsers are pickled to the writer
        self.mrr_prop = mapping.get("mrr", "hs_mrr")
        self.type_prop = mapping.get("deal_type", "dealtype")
        self.stages = {s.id: s for p in pipelines for s in p.stages}
        self.pipelines = {p.id for p in pipelines}
        self.history_props = [
            (sid, f"hs_v2_date_entered_{sid}", f"hs_v2_date_exited_{sid}") for sid in self.stages
        ]

    def properties(self) -> list[str]:
        props = [
            "dealname", "amount", "deal_currency_code", "dealstage", "pipeline",
            "hubspot_owner_id", "createdate", "closedate", "hs_lastmodifieddate",
            self.mrr_prop, self.type_prop,
        ]
        for stage_id in self.stages:
            props += [f"hs_v2_date_entered_{stage_id}", f"hs_v2_date_exited_{stage_id}"]
        props += [p for k, p in self.mapping.items() if k not in DEAL_KNOWN]
        return list(dict.fromkeys(props))

    def parse(self, raw: Mapping[str, Any], company_ids: tuple[str, ...] | None = None) -> Deal:
        props = raw.get("properties") or {}
        f = Fields(props)
        stage_id = f.text("dealstage")
        pipeline_id = f.text("pipeline")
        if stage_id is not None and stage_id not in self.stages:
            f.problems.append(f"dealstage: unknown stage id {stage_id!r}")
        if pipeline_id is not None and pipeline_id not in self.pipelines:
            f.problems.append(f"pipeline: unknown pipeline id {pipeline_id!r}")
        history = []
        for sid, entered_prop, exited_prop in self.history_props:
            if props.get(entered_prop) is None:
                continue
            entered = f.when(entered_prop)
            if entered is not None:
                history.append(StageVisit(sid, entered, f.when(exited_prop)))
        history.sort(key=lambda v: v.entered_at)
        if company_ids is None:
            company_ids = association_ids(raw, "companies")
        return Deal(
            id=str(raw["id"]),
            name=f.text("dealname"),
            amount=f.number("amount"),
            currency=f.currency("deal_currency_code"),
            pipeline_id=pipeline_id,
            stage_id=stage_id,
            owner_id=f.text("hubspot_owner_id"),
            created_at=f.when("createdate"),
            close_date=f.when("closedate"),
            mrr=f.number(self.mrr_prop),
            deal_type=f.text(self.type_prop),
            modified_at=f.when("hs_lastmodifieddate") or _updated_at(raw),
            company_ids=company_ids,
            stage_history=tuple(history),
            custom=_custom(f, self.mapping, DEAL_KNOWN),
            archived=bool(raw.get("archived")),
            archived_at=_archived_at(raw, f),
            problems=tuple(f.problems),
        )


class CompanyParser:
    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)  # a plain dict: parsers are pickled to the writer
        self.segment_prop = mapping.get("segment", "segment")
        self.churn_prop = mapping.get("churned_at", "churned_at")

    def properties(self) -> list[str]:
        props = [
            "name", "domain", "lifecyclestage", "hs_lifecyclestage_customer_date",
            "hubspot_owner_id", "createdate", "hs_lastmodifieddate",
            self.segment_prop, self.churn_prop,
        ]
        props += [p for k, p in self.mapping.items() if k not in COMPANY_KNOWN]
        return list(dict.fromkeys(props))

    def parse(self, raw: Mapping[str, Any]) -> Company:
        f = Fields(raw.get("properties") or {})
        return Company(
            id=str(raw["id"]),
            name=f.text("name"),
            domain=f.text("domain"),
            segment=f.text(self.segment_prop),
            lifecycle_stage=f.text("lifecyclestage"),
            customer_since=f.when("hs_lifecyclestage_customer_date"),
            churned_at=f.when(self.churn_prop),
            owner_id=f.text("hubspot_owner_id"),
            created_at=f.when("createdate"),
            modified_at=f.when("hs_lastmodifieddate") or _updated_at(raw),
            custom=_custom(f, self.mapping, COMPANY_KNOWN),
            archived=bool(raw.get("archived")),
            archived_at=_archived_at(raw, f),
            problems=tuple(f.problems),
        )


class ContactParser:
    def __init__(self, mapping: Mapping[str, str]) -> None:
        self.mapping = dict(mapping)  # a plain dict: parsers are pickled to the writer

    def properties(self) -> list[str]:
        props = [
            "email", "lifecyclestage", "associatedcompanyid", "hubspot_owner_id",
            "createdate", "lastmodifieddate", *LIFECYCLE_DATES.values(),
        ]
        props += list(self.mapping.values())
        return list(dict.fromkeys(props))

    def parse(self, raw: Mapping[str, Any]) -> Contact:
        f = Fields(raw.get("properties") or {})
        dates = {field: f.when(prop) for field, prop in LIFECYCLE_DATES.items()}
        return Contact(
            id=str(raw["id"]),
            email=f.text("email"),
            lifecycle_stage=f.text("lifecyclestage"),
            company_id=f.text("associatedcompanyid"),
            owner_id=f.text("hubspot_owner_id"),
            created_at=f.when("createdate"),
            modified_at=f.when("lastmodifieddate") or _updated_at(raw),
            custom=_custom(f, self.mapping, frozenset()),
            archived=bool(raw.get("archived")),
            archived_at=_archived_at(raw, f),
            problems=tuple(f.problems),
            **dates,
        )


def parse_owner(raw: Mapping[str, Any]) -> Owner:
    teams = tuple(str(t.get("id") or t.get("name")) for t in raw.get("teams") or [] if t)
    user_id = raw.get("userId")
    return Owner(
        id=str(raw["id"]),
        email=raw.get("email") or None,
        first_name=raw.get("firstName") or None,
        last_name=raw.get("lastName") or None,
        user_id=str(user_id) if user_id is not None else None,
        teams=teams,
        archived=bool(raw.get("archived")),
    )


def parse_pipeline(raw: Mapping[str, Any]) -> Pipeline:
    pipeline_id = str(raw["id"])
    stages = []
    for s in raw.get("stages") or []:
        meta = s.get("metadata") or {}
        probability = _probability(meta.get("probability"))
        is_closed = str(meta.get("isClosed", "false")).lower() == "true"
        stages.append(
            Stage(
                id=str(s["id"]),
                pipeline_id=pipeline_id,
                label=str(s.get("label") or s["id"]),
                display_order=int(s.get("displayOrder") or 0),
                probability=probability,
                is_closed=is_closed,
                # HubSpot has no "won" flag: a closed stage with probability 1 is won.
                is_won=is_closed and probability is not None and probability >= 1.0,
            )
        )
    return Pipeline(
        id=pipeline_id,
        label=str(raw.get("label") or pipeline_id),
        display_order=int(raw.get("displayOrder") or 0),
        stages=tuple(stages),
        archived=bool(raw.get("archived")),
    )


def parse_tombstone(raw: Mapping[str, Any]) -> Tombstone:
    at = raw.get("archivedAt")
    return Tombstone(id=str(raw["id"]), archived_at=parse_datetime(str(at)) if at else None)


def association_ids(raw: Mapping[str, Any], to: str) -> tuple[str, ...]:
    block = (raw.get("associations") or {}).get(to) or {}
    return tuple(dict.fromkeys(str(a["id"]) for a in block.get("results") or [] if "id" in a))


def _updated_at(raw: Mapping[str, Any]) -> datetime | None:
    value = raw.get("updatedAt")
    return parse_datetime(str(value)) if value else None


def _probability(value: Any) -> float | None:
    try:
        p = float(value)
    except (TypeError, ValueError):
        return None
    return p if 0.0 <= p <= 1.0 else None


class PageDecoder:
    """Turns a page's raw results (JSON bytes) into records with a parser's ``parse``.

    Picklable (the parser is plain data), so a page can be parsed in another process.
    """

    __slots__ = ("parse",)

    def __init__(self, parse: Any) -> None:
        self.parse = parse

    def __call__(self, chunk: bytes) -> list[Any]:
        return [self.parse(raw) for raw in orjson.loads(chunk)]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PageDecoder) and other.parse == self.parse

    def __hash__(self) -> int:
        return hash(self.parse)

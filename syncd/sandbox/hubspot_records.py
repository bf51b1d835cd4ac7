"""The raw record arrays the generator fills, and the HubSpot properties they are served as.

One dataclass per object holds parallel arrays (one entry per record, by position); ``table()``
turns them into a :class:`~syncd.sandbox.hubspot_table.Table`: assigns ids in creation order
(HubSpot's ids grow with time) and declares every property with its column and type.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from syncd.sandbox.hubspot_account import (
    CONSUMER_DOMAINS,
    COUNTRIES,
    CURRENCIES,
    DEAL_TYPES,
    DEFAULT_STAGES,
    FIRST,
    INDUSTRIES,
    JOB_TITLES,
    LAST,
    LIFECYCLE,
    LOST_STAGES,
    OWNER_VOCAB,
    PIPELINES,
    PRODUCTS,
    SEGMENTS,
    STAGE_IDS,
    UPSELL_STAGES,
    WON_STAGES,
    company_domain,
    company_name,
    contact_local_part,
    person,
)
from syncd.sandbox.hubspot_table import (
    CatColumn,
    Column,
    FuncColumn,
    IntColumn,
    Table,
    TsColumn,
)

CONTACT_STAGE_DATES = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead",
                       "opportunity", "customer", "other")


def _q() -> array[int]:
    return array("q")


def _b() -> array[int]:
    return array("B")


def assign_ids(created: array[int], first: int, spread: int) -> tuple[array[int], array[int]]:
    """Ids grow with creation time, with irregular gaps; returns (ids, positions by id)."""
    order = array("q", sorted(range(len(created)), key=created.__getitem__))
    ids = array("q", bytes(8 * len(created)))
    next_id = first
    for i, pos in enumerate(order):
        ids[pos] = next_id
        next_id += 1 + (i * 7919) % spread
    return ids, order


@dataclass(eq=False)
class CompanyArrays:
    created: array[int] = field(default_factory=_q)
    modified: array[int] = field(default_factory=_q)
    employees: array[int] = field(default_factory=_q)
    customer: array[int] = field(default_factory=_q)  # hs_lifecyclestage_customer_date
    churned: array[int] = field(default_factory=_q)  # churned_at (midnight UTC)
    segment: array[int] = field(default_factory=_b)
    industry: array[int] = field(default_factory=_b)
    life: array[int] = field(default_factory=_b)
    owner: array[int] = field(default_factory=_b)
    country: array[int] = field(default_factory=_b)

    def table(self) -> Table:
        ids, order = assign_ids(self.created, 5_100_000_000, 37)
        country = self.country
        columns: dict[str, Column] = {
            "name": FuncColumn(company_name),
            "domain": FuncColumn(lambda p: company_domain(p, country[p])),
            "segment": CatColumn(self.segment, SEGMENTS),
            "industry": CatColumn(self.industry, INDUSTRIES),
            "country": CatColumn(self.country, COUNTRIES, "string"),
            "numberofemployees": IntColumn(self.employees),
            "lifecyclestage": CatColumn(self.life, LIFECYCLE),
            "hs_lifecyclestage_customer_date": TsColumn(self.customer),
            "churned_at": TsColumn(self.churned, "date"),
            "hubspot_owner_id": CatColumn(self.owner, OWNER_VOCAB),
        }
        return Table(
            "companies", ids=ids, created=self.created, modified=self.modified,
            archived=array("q", bytes(8 * len(ids))), id_order=order, columns=columns,
            modified_property="hs_lastmodifieddate",
            default_properties=("createdate", "domain", "hs_lastmodifieddate", "hs_object_id",
                                "name"),
        )


@dataclass(eq=False)
class ContactArrays:
    created: array[int] = field(default_factory=_q)
    modified: array[int] = field(default_factory=_q)
    archived: array[int] = field(default_factory=_q)
    company: array[int] = field(default_factory=lambda: array("i"))  # position, -1: none
    life: array[int] = field(default_factory=_b)
    owner: array[int] = field(default_factory=_b)
    job: array[int] = field(default_factory=_b)
    dates: dict[str, array[int]] = field(
        default_factory=lambda: {name: _q() for name in CONTACT_STAGE_DATES})

    def table(self, company_ids: array[int], company_country: array[int]) -> Table:
        ids, order = assign_ids(self.created, 51, 3)
        company = self.company
        associated = array("q", (company_ids[c] if c >= 0 else 0 for c in company))

        def email(p: int) -> str:
            c = company[p]
            domain = (company_domain(c, company_country[c]) if c >= 0
                      else CONSUMER_DOMAINS[p % len(CONSUMER_DOMAINS)])
            return f"{contact_local_part(p)}@{domain}"

        columns: dict[str, Column] = {
            "email": FuncColumn(email),
            "firstname": FuncColumn(lambda p: FIRST[person(p) % 60]),
            "lastname": FuncColumn(lambda p: LAST[person(p) // 60]),
            "lifecyclestage": CatColumn(self.life, LIFECYCLE),
            "associatedcompanyid": FuncColumn(
                lambda p: str(associated[p]) if associated[p] else None, "number"),
            "hubspot_owner_id": CatColumn(self.owner, OWNER_VOCAB),
            "jobtitle": CatColumn(self.job, JOB_TITLES, "string"),
        }
        for name, arr in self.dates.items():
            columns[f"hs_lifecyclestage_{name}_date"] = TsColumn(arr)
        return Table(
            "contacts", ids=ids, created=self.created, modified=self.modified,
            archived=self.archived, id_order=order, company_ids=associated, columns=columns,
            modified_property="lastmodifieddate",
            default_properties=("createdate", "email", "firstname", "hs_object_id",
                                "lastmodifieddate", "lastname"),
        )


@dataclass(eq=False)
class DealArrays:
    created: array[int] = field(default_factory=_q)
    modified: array[int] = field(default_factory=_q)
    archived: array[int] = field(default_factory=_q)
    close: array[int] = field(default_factory=_q)
    amount: array[int] = field(default_factory=_q)  # cents
    mrr: array[int] = field(default_factory=_q)
    company: array[int] = field(default_factory=lambda: array("i"))  # position
    stage: array[int] = field(default_factory=_b)  # 1 + index in STAGE_IDS
    pipeline: array[int] = field(default_factory=_b)
    owner: array[int] = field(default_factory=_b)
    currency: array[int] = field(default_factory=_b)
    type: array[int] = field(default_factory=_b)
    product: array[int] = field(default_factory=_b)
    entered: list[array[int]] = field(default_factory=lambda: [_q() for _ in STAGE_IDS])
    exited: list[array[int]] = field(default_factory=lambda: [_q() for _ in STAGE_IDS])

    def table(self, company_ids: array[int]) -> Table:
        ids, order = assign_ids(self.created, 9_800_000_000, 23)
        company, product = self.company, self.product
        prob = (None, *(s[2] for s in DEFAULT_STAGES + UPSELL_STAGES))
        closed = (None, *("true" if s in WON_STAGES | LOST_STAGES else "false" for s in STAGE_IDS))
        won = (None, *("true" if s in WON_STAGES else "false" for s in STAGE_IDS))
        columns: dict[str, Column] = {
            "dealname": FuncColumn(
                lambda p: f"{company_name(company[p])} – {PRODUCTS[product[p]]}"),
            "amount": IntColumn(self.amount, cents=True),
            "hs_mrr": IntColumn(self.mrr),
            "deal_currency_code": CatColumn(self.currency, CURRENCIES),
            "dealstage": CatColumn(self.stage, (None, *STAGE_IDS)),
            "pipeline": CatColumn(self.pipeline, PIPELINES),
            "hubspot_owner_id": CatColumn(self.owner, OWNER_VOCAB),
            "dealtype": CatColumn(self.type, DEAL_TYPES),
            "closedate": TsColumn(self.close),
            "hs_deal_stage_probability": CatColumn(self.stage, prob, "number"),
            "hs_is_closed": CatColumn(self.stage, closed, "bool"),
            "hs_is_closed_won": CatColumn(self.stage, won, "bool"),
        }
        for i, stage in enumerate(STAGE_IDS):
            columns[f"hs_v2_date_entered_{stage}"] = TsColumn(self.entered[i])
            columns[f"hs_v2_date_exited_{stage}"] = TsColumn(self.exited[i])
        return Table(
            "deals", ids=ids, created=self.created, modified=self.modified,
            archived=self.archived, id_order=order,
            company_ids=array("q", (company_ids[c] for c in company)), columns=columns,
            modified_property="hs_lastmodifieddate",
            default_properties=("amount", "closedate", "createdate", "dealname", "dealstage",
                                "hs_lastmodifieddate", "hs_object_id", "pipeline"),
        )

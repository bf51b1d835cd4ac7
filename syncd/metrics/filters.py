"""``where:`` filters as SQL conditions on deals, companies and contacts.

Keys (validated first by :func:`rules.catalog.filter_problems`):

- ``owner``: an owner's e-mail (or its CRM id), or a list of them; matched through the
  ``owner`` table, case-insensitively. On deals the deal's owner, on companies the company's,
  on contacts the contact's.
- ``pipeline``: a pipeline id or label (or a list); ``deal_type``: the deal's type.
- ``company_segment``: the company's segment; a deal matches through ``deal_company`` (any of
  its companies), a contact through its ``company_id``.
- ``amount_min`` / ``amount_max``: bounds on the deal's amount (in the reporting currency),
  both included.
- ``<record>_<name>`` for any other mapped field: a column of that record when it has one
  (``deal_mrr``), else the key ``name`` of its JSON ``custom`` column, compared as text.

A list value matches any of its items.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

import sqlalchemy as sa
from sqlalchemy.sql.selectable import NamedFromClause

from syncd.store import tables as t

_RECORDS = {"deal": t.deal, "company": t.company, "contact": t.contact}
_NOT_FIELDS = frozenset({"id", "custom", "archived", "archived_at", "problems", "synced_at"})
_DEAL_ONLY = frozenset({"pipeline", "deal_type", "amount_min", "amount_max"})

#: A record table or an alias of it.
Rec: TypeAlias = NamedFromClause
#: A SELECT of any columns.
Select: TypeAlias = sa.Select[*tuple[Any, ...]]
Money = Callable[[Any, Any], Any]
#: Conditions on a company row, built on the alias given.
CompanyTest = Callable[[Rec], Any]


def _values(value: object) -> list[Any]:
    items = list(value) if isinstance(value, list | tuple | set | frozenset) else [value]
    return [_text(v) for v in items]


def _text(value: object) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


def _owner_ids(value: object) -> Select:
    wanted = _values(value)
    lowered = [v.lower() for v in wanted]
    return sa.select(t.owner.c.id).where(
        sa.or_(sa.func.lower(t.owner.c.email).in_(lowered), t.owner.c.id.in_(wanted))
    )


def field_condition(table: Rec, record: str, key: str, value: object) -> Any:
    """``<record>_<name> = value`` on ``table`` (an alias of the record's table)."""
    name = key[len(record) + 1 :]
    base = _RECORDS[record]
    if key in base.c and key not in _NOT_FIELDS:  # deal_type
        return table.c[key].in_(_values(value))
    if name in base.c and name not in _NOT_FIELDS:  # deal_mrr, company_segment
        column = table.c[name]
        if isinstance(column.type, sa.Numeric | sa.Float | sa.Integer):
            return column.in_([float(v) for v in _values(value)])
        return column.in_(_values(value))
    return table.c.custom[name].as_string().in_(_values(value))


class Filters:
    """The ``where:`` mapping, turned into conditions for each record a metric reads."""

    def __init__(self, where: Mapping[str, Any]) -> None:
        self.where = dict(where)

    def _company_keys(self) -> dict[str, Any]:
        return {k: v for k, v in self.where.items() if k.startswith("company_")}

    @property
    def on_deals(self) -> bool:
        """Whether some key narrows deals themselves (not only their companies)."""
        return any(not k.startswith("company_") for k in self.where)

    def company(self, c: Rec, *, with_owner: bool = True) -> list[Any]:
        """Conditions on a company row ``c`` (segment, company fields, owner if asked)."""
        conds = [field_condition(c, "company", k, v) for k, v in self._company_keys().items()]
        if with_owner and "owner" in self.where:
            conds.append(c.c.owner_id.in_(_owner_ids(self.where["owner"])))
        return conds

    def deal(self, d: Rec, money: Money) -> list[Any]:
        """Conditions on a deal row ``d``; company keys through ``deal_company``."""
        conds: list[Any] = []
        for key, value in self.where.items():
            if key == "owner":
                conds.append(d.c.owner_id.in_(_owner_ids(value)))
            elif key == "pipeline":
                wanted = _values(value)
                labelled = sa.select(t.pipeline.c.id).where(t.pipeline.c.label.in_(wanted))
                conds.append(sa.or_(d.c.pipeline_id.in_(wanted), d.c.pipeline_id.in_(labelled)))
            elif key == "amount_min":
                conds.append(money(d.c.amount, d.c.currency) >= float(value))
            elif key == "amount_max":
                conds.append(money(d.c.amount, d.c.currency) <= float(value))
            elif key.startswith("deal_"):
                conds.append(field_condition(d, "deal", key, value))
        if self._company_keys():
            conds.append(
                self.deal_company_exists(d, lambda c: self.company(c, with_owner=False))
            )
        return conds

    @staticmethod
    def deal_company_exists(d: Rec, *conds: CompanyTest) -> Any:
        """EXISTS a company of deal ``d`` (through ``deal_company``) meeting ``conds``, each
        built on a fresh alias of ``company`` (so no outer query correlates it away)."""
        dc = t.deal_company.alias()
        c = t.company.alias()
        built: list[Any] = []
        for cond in conds:
            made = cond(c)
            built.extend(made if isinstance(made, list) else [made])
        return sa.exists(
            sa.select(sa.literal(1))
            .select_from(dc.join(c, c.c.id == dc.c.company_id))
            .where(dc.c.deal_id == d.c.id, *built)
        )

    def contact(self, ct: Rec) -> list[Any]:
        """Conditions on a contact row ``ct``; company keys through ``company_id``."""
        conds: list[Any] = []
        for key, value in self.where.items():
            if key == "owner":
                conds.append(ct.c.owner_id.in_(_owner_ids(value)))
            elif key.startswith("contact_"):
                conds.append(field_condition(ct, "contact", key, value))
        if self._company_keys():
            c = t.company.alias()
            conds.append(
                sa.exists(
                    sa.select(sa.literal(1)).where(
                        c.c.id == ct.c.company_id, *self.company(c, with_owner=False)
                    )
                )
            )
        return conds

    def deal_only_keys(self) -> list[str]:
        return [k for k in self.where if k in _DEAL_ONLY or k.startswith("deal_")]

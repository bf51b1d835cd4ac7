"""Store contents the generated team does not have, made by editing a synced store: a contact
without its own customer date, deals without stage history, a tombstone, a deal shared by two
customers. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from rules.periods import Period
from syncd.metrics import compute
from syncd.sandbox.hubspot_account import LOST_STAGES, WON_STAGES
from syncd.store import tables as t

from .reference import Raw, sync

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # as in conftest.py
WEEK_AGO = NOW - timedelta(days=7)
PERIOD = Period(date(2026, 3, 1), date(2026, 8, 31))
START, END = datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 9, 1, tzinfo=UTC)


def ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def test_the_rules_for_incomplete_records(db_url: str, raw: Raw) -> None:
    store = sync(raw.ds, db_url, NOW)
    engine = store.engine

    def value(key, **kwargs):
        kwargs.setdefault("as_of", NOW)
        return compute(engine, key, fx=raw.fx, **kwargs)

    try:
        cohort, converted = raw.conversion(START, END, NOW)
        pipeline_now, _, open_now = raw.pipeline(NOW)
        pipeline_then, _, open_then = raw.pipeline(WEEK_AGO)
        mrr = raw.mrr(NOW)
        # an open deal and a deal closed since a week ago, both without any stage history
        still_open = next(d for d in raw.deals if d.stage not in WON_STAGES | LOST_STAGES
                          and d.created <= ms(WEEK_AGO) and d.amount)
        closed_since = next(d for d in raw.deals if d.stage in WON_STAGES | LOST_STAGES
                         and d.created <= ms(WEEK_AGO) < d.close <= ms(NOW)
                         and d.stage_at(ms(WEEK_AGO)) not in WON_STAGES | LOST_STAGES)
        two = [c.id for c in raw.companies.values() if c.customer_at(ms(NOW))][:2]
        shared = next(d for d in raw.deals if d.company == two[0] and d.won_by(ms(NOW)))
        with engine.begin() as conn:
            conn.execute(sa.update(t.contact).values(became_customer_at=None))
            conn.execute(sa.delete(t.deal_stage_history).where(
                t.deal_stage_history.c.deal_id.in_([still_open.id, closed_since.id])))
            conn.execute(sa.insert(t.deal).values(id="tombstone", archived=True,
                                                  archived_at=NOW + timedelta(days=1)))
            conn.execute(sa.insert(t.deal_company).values(deal_id=shared.id, company_id=two[1]))

        # conversion falls back on the company's customer date
        got = value("lead_conversion_rate", window=PERIOD)
        assert (got.detail["cohort"], got.detail["converted"]) == (cohort, converted)
        # without history: open now by its current stage; the closed one was open a week ago
        now = value("pipeline_value")
        assert (now.value, now.detail["open_deals"]) == (pytest.approx(pipeline_now), open_now)
        then = value("pipeline_value", as_of=WEEK_AGO)
        assert then.value == pytest.approx(pipeline_then)
        assert then.detail["open_deals"] == open_then  # and the tombstone is not a deal
        # a deal linked to two customers counts once
        assert value("mrr").value == pytest.approx(mrr)
    finally:
        store.close()

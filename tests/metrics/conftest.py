"""The sandbox team synced once into a SQLite store, its raw reference, and a ``value``
helper computing a metric on that store (with the team's EUR rate and mapped fields)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from syncd.metrics import MetricValue, compute
from syncd.sandbox.dataset import generate

from .reference import MAPPED, Raw, sync

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)


@pytest.fixture(scope="session")
def raw() -> Raw:
    return Raw(generate(now=NOW, seed=7))


@pytest.fixture(scope="session")
def engine(raw: Raw, tmp_path_factory: pytest.TempPathFactory) -> Iterator[sa.Engine]:
    store = sync(raw.ds, f"sqlite:///{tmp_path_factory.mktemp('metrics') / 'syncd.db'}", NOW)
    yield store.engine
    store.close()


@pytest.fixture
def value(engine: sa.Engine, raw: Raw) -> Callable[..., MetricValue]:
    def get(key: str, **kwargs: Any) -> MetricValue:
        kwargs.setdefault("as_of", NOW)
        kwargs.setdefault("fx", raw.fx)
        kwargs.setdefault("fields", MAPPED)
        return compute(engine, key, **kwargs)

    return get

"""The sandbox team synced once (a template SQLite file), copied for each test so the
snapshots one test writes never leak into another; the example config pointed at the copy."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from syncd.config import Config, load_config
from syncd.sandbox.dataset import generate
from syncd.store import Store
from tests.metrics.reference import Raw, sync

NOW = datetime(2026, 11, 23, 6, 30, tzinfo=UTC)  # Monday 07:30 in Zurich
EXAMPLE = Path(__file__).parents[2].parent / "shared" / "syncd.example.yaml"


@pytest.fixture(scope="session")
def raw() -> Raw:
    return Raw(generate(now=NOW, seed=7))


@pytest.fixture(scope="session")
def template(raw: Raw, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("evaluate") / "template.db"
    sync(raw.ds, f"sqlite:///{path}", NOW).close()
    return path


@pytest.fixture
def db(template: Path, tmp_path: Path) -> Path:
    path = tmp_path / "syncd.db"
    shutil.copy(template, path)
    return path


@pytest.fixture
def engine(db: Path) -> Iterator[sa.Engine]:
    store = Store.open(f"sqlite:///{db}")
    yield store.engine
    store.close()


@pytest.fixture
def write_config(db: Path, tmp_path: Path, raw: Raw,
                 monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """The example config (or ``text``), pointed at the test's database, with the team's
    EUR rate; ``edit`` replaces strings in it."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", "pat-test")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-test")
    monkeypatch.delenv("SYNCD_DATABASE_URL", raising=False)

    def write(text: str | None = None, **edit: str) -> Path:
        body = text if text is not None else EXAMPLE.read_text(encoding="utf-8")
        body = body.replace("sqlite:///syncd.db", f"sqlite:///{db}")
        body = body.replace("currency: CHF ", f"fx: {{EUR: {raw.fx['EUR']}}}\ncurrency: CHF ")
        for old, new in edit.items():
            assert old in body, old
            body = body.replace(old, new)
        path = tmp_path / "syncd.yaml"
        path.write_text(body, encoding="utf-8")
        return path

    return write


@pytest.fixture
def config(write_config: Callable[..., Path]) -> Config:
    return load_config(write_config())

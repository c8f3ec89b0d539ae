"""Hand-written migration tests through Gauntlet.isolated() (``IsolatedDatabase``)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import text

from gauntlet_sync import (
    DowngradeError,
    Gauntlet,
    GauntletConfig,
    UpgradeError,
)
from gauntlet_sync.errors import (
    ConfigError,
)
from tests.histories import catalog


def _gauntlet(history: str) -> Gauntlet:
    config = GauntletConfig(
        alembic_ini=catalog.ini(history), metadata=catalog.load_metadata(history)
    )
    return Gauntlet(None, config)


def test_a_data_migration_transforms_rows_and_its_downgrade_restores_them(
    schemas: Callable[[], set[str]],
) -> None:
    before = schemas()
    with _gauntlet("data_migration") as gauntlet, gauntlet.isolated() as db:
        assert db.current_revision() is None
        db.migrate_to("t1000001")
        db.insert("orders", [{"id": 1, "status": "new"}, {"id": 2, "status": "paid"}])
        db.upgrade("t1000002")
        assert db.fetch("SELECT status FROM orders ORDER BY id") == [("NEW",), ("PAID",)]
        assert db.current_revision() == "t1000002"
        db.migrate_to("t1000001")
        assert db.fetch("SELECT status FROM orders ORDER BY id") == [("new",), ("paid",)]
        schema = db.schema
        assert db.connection.execute(text("SELECT current_schema()")).scalar() == schema
    assert schemas() == before


def test_runner_moves_both_ways_and_reports_heads() -> None:
    with _gauntlet("branched") as gauntlet, gauntlet.isolated() as db:
        assert gauntlet.revisions()[0] == "k1000001"
        assert gauntlet.heads() == ["k1000005"]
        db.migrate_to("k1000002")
        db.upgrade("k1000003")
        assert db.current_revision() == ("k1000002", "k1000003")
        db.upgrade()
        assert db.current_revision() == "k1000005"
        db.downgrade("k1000004")
        db.downgrade("-1")
        assert db.current_revision() == ("k1000002", "k1000003")
        db.migrate_to("base")
        assert db.current_revision() is None
        with pytest.raises(ConfigError, match="nope"):
            db.migrate_to("nope")


def test_runner_raises_the_typed_errors_of_the_checks() -> None:
    with _gauntlet("upgrade_fails") as gauntlet, gauntlet.isolated() as db:
        with pytest.raises(UpgradeError, match="c1000002") as caught:
            db.upgrade()
        assert caught.value.revision == "c1000002"
    with _gauntlet("not_implemented") as gauntlet, gauntlet.isolated() as db:
        db.upgrade()
        with pytest.raises(DowngradeError, match="q1000002"):
            db.downgrade("base")

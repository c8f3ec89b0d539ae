"""Hand-written migration tests: Gauntlet.isolated() and the seed's sync utilities."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.config import Config
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.pool import NullPool

from gauntlet_sync import (
    DowngradeError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    NamingConventionError,
    UpgradeError,
    utils,
)
from gauntlet_sync.errors import (
    ConfigError,
    EmptySchemaNameError,
    InvalidSchemaNameError,
    ReservedWordSchemaNameError,
    SchemaNameTooLongError,
)
from tests.histories import catalog


@pytest.fixture
def engine() -> Iterator[Engine]:
    engine = create_engine(EmbeddedPostgres.shared().dsn, poolclass=NullPool)
    yield engine
    engine.dispose()


def _gauntlet(history: str) -> Gauntlet:
    config = GauntletConfig(
        alembic_ini=catalog.ini(history), metadata=catalog.load_metadata(history)
    )
    return Gauntlet(None, config)


def _schemas(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {r[0] for r in conn.execute(text("SELECT nspname FROM pg_namespace"))}


def test_a_data_migration_transforms_rows_and_its_downgrade_restores_them(engine: Engine) -> None:
    before = _schemas(engine)
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
    assert _schemas(engine) == before


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


def test_seed_utilities_on_a_real_history(engine: Engine) -> None:
    config = Config(catalog.ini("clean"))
    assert utils.get_all_revisions(config) == ["a1000001", "a1000002", "a1000003", "a1000004"]
    with utils.create_isolated_migration_schema(EmbeddedPostgres.shared().dsn) as schema:
        assert schema in _schemas(engine)
        assert utils.get_current_revision(engine, schema) is None
        utils.run_alembic_upgrade(engine, config, target_schema=schema)
        assert utils.get_current_revision(engine, schema) == "a1000004"
        with engine.connect() as conn:
            results = utils.fetch_table_naming_results(conn, schema)
        assert set(results) == {"customers", "orders"}
        assert "ix_orders_code" in results["orders"]["indexes"]
        utils.validate_naming_results(results, ["ix_", "uq_"], ["_pkey"], ["_customers"])
        with pytest.raises(NamingConventionError, match="ix_orders_code"):
            utils.validate_naming_results(results, ["idx_"], ["_pkey", "_key"], ["_customers"])
        utils.run_alembic_downgrade(engine, config, target_schema=schema, revision="a1000002")
        assert utils.get_current_revision(engine, schema) == "a1000002"
        utils.run_alembic_downgrade(engine, config, target_schema=schema)
        assert utils.get_current_revision(engine, schema) is None
    assert schema not in _schemas(engine)


def test_seed_schema_validation(engine: Engine) -> None:
    with pytest.raises(EmptySchemaNameError):
        utils.validate_schema_name("")
    with pytest.raises(InvalidSchemaNameError):
        utils.validate_schema_name("x; DROP TABLE y")
    with pytest.raises(SchemaNameTooLongError):
        utils.validate_schema_name("s" * 64)
    with engine.connect() as conn, pytest.raises(ReservedWordSchemaNameError):
        utils.validate_schema_name("select", conn)
    utils.validate_schema_name("fine_name")


def test_seed_diff_filter() -> None:
    from sqlalchemy import Column, Integer, MetaData, Table

    table = Table("events_default", MetaData(), Column("id", Integer))
    assert utils.is_ignored_diff_item(("remove_table", table), frozenset({"events_default"}))
    assert not utils.is_ignored_diff_item(("remove_table", table), frozenset())
    assert utils.DEFAULT_IGNORE_TABLES == frozenset({"alembic_version"})


@pytest.mark.parametrize("history", ["clean", "branched", "multiple_heads", "no_trace"])
def test_the_quick_branch_check_answers_as_alembic_does(history: str) -> None:
    """Every downgrade step, with the heads a walk meets (the revision alone, or with other
    heads): the shortcut's answer is alembic's own."""
    from alembic.runtime.migration import RevisionStep

    from gauntlet_sync.config import load_alembic_config
    from gauntlet_sync.history import History
    from gauntlet_sync.session import _RevisionStep

    graph = History(load_alembic_config(GauntletConfig(alembic_ini=catalog.ini(history))))
    revision_map = graph.script.revision_map
    compared = 0
    for rev in graph.ids:
        revision = graph.get(rev)
        others = [h for h in graph.ids if h != rev]
        for heads in [{rev}, {rev, *graph.heads}, *({rev, other} for other in others)]:
            ours = _RevisionStep(revision_map, revision, False).should_delete_branch(heads)
            theirs = RevisionStep(revision_map, revision, False).should_delete_branch(heads)
            assert ours == theirs, (rev, heads)
            compared += 1
    assert compared > len(graph.ids)

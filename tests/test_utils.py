"""The seed's synchronous utilities (``gauntlet_sync.utils``), ported from alembic-gauntlet."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from alembic.config import Config
from sqlalchemy import Engine

from gauntlet_sync import (
    EmbeddedPostgres,
    NamingConventionError,
    utils,
)
from gauntlet_sync.errors import (
    EmptySchemaNameError,
    InvalidSchemaNameError,
    ReservedWordSchemaNameError,
    SchemaNameTooLongError,
)
from tests.histories import catalog


def test_seed_utilities_on_a_real_history(engine: Engine, schemas: Callable[[], set[str]]) -> None:
    config = Config(catalog.ini("clean"))
    assert utils.get_all_revisions(config) == ["a1000001", "a1000002", "a1000003", "a1000004"]
    with utils.create_isolated_migration_schema(EmbeddedPostgres.shared().dsn) as schema:
        assert schema in schemas()
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
    assert schema not in schemas()


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

"""Shapes found in the real-world corpus (benchmarks/real/), each the smallest history that
shows it, with its verdict proven twice: by separate ``alembic`` commands (a fresh
``Config`` each, on a fresh database) and by gauntlet-sync, which must say the same.

Named for what it holds, not for one module: shapes found in the real-world corpus,
whichever module they touch.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from alembic import command
from alembic.config import Config
from psycopg import sql

from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig
from tests.histories import catalog


@pytest.fixture
def fresh_db_url() -> Iterator[str]:
    """A SQLAlchemy URL of a new, empty database on the shared embedded server."""
    pg = EmbeddedPostgres.shared()
    name = "corpus_reference"
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = pg.url.set(database=name).render_as_string(hide_password=False)
    yield url
    with psycopg.connect(pg.dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _alembic(history: str, url: str, verb: str, target: str) -> str | None:
    """One alembic command with a fresh Config: None if it passed, else the error text."""
    cfg = Config(catalog.ini(history))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    try:
        getattr(command, verb)(cfg, target)
    except Exception as exc:  # noqa: BLE001 - the reference's verdict
        return f"{type(exc).__name__}: {exc}"
    return None


def test_corpus_enum_reused_fails_as_separate_alembic_commands(fresh_db_url: str) -> None:
    # optuna v0.9.0.a / v2.4.0.a: `alembic upgrade heads` passes in one command, but a
    # database at ra000001 cannot be upgraded to ra000002.
    assert _alembic("corpus_enum_reused", fresh_db_url, "upgrade", "ra000001") is None
    error = _alembic("corpus_enum_reused", fresh_db_url, "upgrade", "ra000002")
    assert error is not None and 'type "studydirection" already exists' in error


def test_corpus_enum_reused_stairway_fails_at_the_second_create_type() -> None:
    cfg = GauntletConfig(
        alembic_ini=catalog.ini("corpus_enum_reused"),
        metadata=catalog.load_metadata("corpus_enum_reused"),
    )
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    assert report.get("upgrade").status == "passed"  # one command: the memo is right there
    stairway = report.get("stairway")
    assert stairway.status == "failed"
    assert stairway.to_dict()["revision"] == "ra000002"
    assert stairway.to_dict()["step"] == "upgrade"
    assert 'type "studydirection" already exists' in stairway.message


def _fidelity(history: str, **changes: object) -> GauntletConfig:
    alembic = Config(
        str(catalog.HISTORIES / "fidelity" / "alembic.ini"), config_args={"history": history}
    )
    return GauntletConfig(alembic_config=alembic, **changes)  # type: ignore[arg-type]


def test_keep_going_walks_past_an_upgrade_step_that_one_command_from_empty_passes(
    fresh_db_url: str,
) -> None:
    # optuna 5.0.0 with keep_going: v2.4.0.a's stairway upgrade fails, but `alembic upgrade
    # v2.4.0.a` on an empty database passes, so separate commands go on to walk (and find
    # v3.0.0.b's trace) where gauntlet-sync reported six revisions "not reached".
    ini = str(catalog.HISTORIES / "fidelity" / "alembic.ini")
    cfg = Config(ini, config_args={"history": "keep_going_rebuild"})
    cfg.set_main_option("sqlalchemy.url", fresh_db_url.replace("%", "%%"))
    command.upgrade(cfg, "qb000002")  # one command from empty: passes
    with Gauntlet(None, _fidelity("keep_going_rebuild", keep_going=True)) as gauntlet:
        report = gauntlet.run_all(["stairway", "no_trace"], raise_on_failure=False)
    stairway = report.get("stairway")
    assert stairway.status == "failed"
    assert [line.split(":")[0] for line in stairway.problems] == ["qb000002 upgrade"]
    assert "Not reached" not in stairway.message
    no_trace = report.get("no_trace")
    assert no_trace.status == "failed"
    assert [line.split(":")[0] for line in no_trace.problems] == ["qb000003"]
    assert "optimisation studies" in no_trace.message

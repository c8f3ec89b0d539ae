"""The driver the project names is the driver its migrations run on.

psycopg (3) by default; ``+psycopg2`` in the DSN or in ``sqlalchemy.url`` runs them on
psycopg2 (client-side binding, as the project deploys with), ``+asyncpg`` through an async
env.py (tests/test_env_shapes.py). gauntlet-sync's own connections stay on psycopg.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from alembic.config import Config

from gauntlet_sync import (
    DEFAULT_CHECKS,
    ConfigError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    UpgradeError,
)
from gauntlet_sync.handover import Driver, dsn_driver, ini_url, resolve_driver

SHAPES = Path(__file__).resolve().parent / "env_shapes"
BINDING = SHAPES / "client_binding"


pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


def _binding_metadata() -> Any:
    spec = importlib.util.spec_from_file_location("gauntlet_binding_models", BINDING / "models.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Base.metadata


def _dsn(driver: str | None) -> str:
    dsn = EmbeddedPostgres.shared().dsn
    return dsn if driver is None else dsn.replace("postgresql://", f"postgresql+{driver}://", 1)


def _run(ini: Path, dsn: str, **config: Any) -> Any:
    cfg = GauntletConfig(alembic_ini=str(ini), metadata=_binding_metadata(), **config)
    with Gauntlet(dsn, cfg) as gauntlet:
        assert gauntlet.engine.dialect.driver == "psycopg"  # gauntlet-sync's own work
        return gauntlet.run_all(raise_on_failure=False)


def test_client_side_binding_passes_with_a_psycopg2_dsn() -> None:
    report = _run(BINDING / "alembic.ini", _dsn("psycopg2"))
    assert {r.name: r.status for r in report.results} == dict.fromkeys(DEFAULT_CHECKS, "passed"), (
        str(report)
    )


def test_client_side_binding_fails_on_the_psycopg_default_naming_the_revision() -> None:
    report = _run(BINDING / "alembic.ini", _dsn(None))
    upgrade = report.get("upgrade")
    assert upgrade.status == "failed", str(report)
    assert isinstance(upgrade.error, UpgradeError)
    assert upgrade.error.revision == "w1000002"
    assert "w1000002" in upgrade.message
    assert "DatatypeMismatch" in upgrade.message, upgrade.message
    assert report.get("stairway").status == "failed"


def test_psycopg2_named_in_sqlalchemy_url(tmp_path: Path) -> None:
    """The ini's ``+psycopg2`` counts when the DSN names no driver."""
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        f"script_location = {SHAPES / 'url_only'}\n"
        f"version_locations = {BINDING / 'versions'}\n"
        "path_separator = os\n"
        "sqlalchemy.url = postgresql+psycopg2://app:secret@db.example/app\n"
    )
    report = _run(ini, _dsn(None))
    assert report.ok, str(report)


def test_which_driver_is_named() -> None:
    config = Config(str(BINDING / "alembic.ini"))
    assert resolve_driver(None, config).name == "psycopg"  # +psycopg in its ini
    assert resolve_driver("postgresql://u@h/db", config).name == "psycopg"
    config.remove_main_option("sqlalchemy.url")
    assert resolve_driver(None, config) == Driver()  # named nowhere: the default
    assert resolve_driver("postgresql+psycopg2://u@h/db", config) == Driver("psycopg2", "the DSN")
    assert dsn_driver("host=h dbname=db") is None
    config.set_main_option("sqlalchemy.url", "postgresql+asyncpg://u@h/db")
    found = resolve_driver(None, config)
    assert (found.name, found.sync_name) == ("asyncpg", "psycopg")
    assert "sqlalchemy.url" in found.named_in
    # the DSN's driver wins over sqlalchemy.url's
    assert resolve_driver("postgres+psycopg://u@h/db", config).name == "psycopg"


def test_sqlalchemy_url_with_placeholders_env_py_fills_in(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\nscript_location = x\n"
        "sqlalchemy.url = postgresql+psycopg2://%(DB_USER)s@%(DB_HOST)s/app\n"
    )
    config = Config(str(ini))
    assert ini_url(config) == "postgresql+psycopg2://%(DB_USER)s@%(DB_HOST)s/app"
    assert resolve_driver(None, config).name == "psycopg2"


def test_multidb_ini_names_its_driver_per_database(tmp_path: Path) -> None:
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\nscript_location = x\ndatabases = engine1\n\n"
        "[engine1]\nsqlalchemy.url = postgresql+psycopg2://u@h/one\n"
    )
    assert resolve_driver(None, Config(str(ini))).name == "psycopg2"


def test_a_driver_migrations_cannot_run_on_is_a_config_error() -> None:
    config = Config(str(BINDING / "alembic.ini"))
    with pytest.raises(ConfigError, match=r"\+pg8000.*\+psycopg2 or \+asyncpg"):
        resolve_driver("postgresql+pg8000://u@h/db", config)


def test_a_named_driver_that_is_not_installed_names_the_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "asyncpg" else real(name)
    )
    config = Config(str(BINDING / "alembic.ini"))
    with pytest.raises(ConfigError, match=r"asyncpg is not installed.*gauntlet-sync\[asyncpg\]"):
        resolve_driver("postgresql+asyncpg://u@h/db", config)

"""A new user's first hour (issue 16): quiet alembic logs at the CLI's default and ``-q``,
``--script-location`` and its default, an alembic-ready URL from the embedded server.

Named for what it holds, not for one module: a new user's first hour (issue 16), across the
cli, config and server."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from alembic.config import Config
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from gauntlet_sync import ConfigError, EmbeddedPostgres, GauntletConfig, cli
from gauntlet_sync.config import load_alembic_config
from tests.reliability import child_env, make_project

#: what `alembic init` writes for logging: alembic's own logger at INFO.
ALEMBIC_LOGGING = """
[loggers]
keys = root,sqlalchemy,alembic

[handlers]
keys = console

[formatters]
keys = generic

[logger_root]
level = WARNING
handlers = console
qualname =

[logger_sqlalchemy]
level = WARNING
handlers =
qualname = sqlalchemy.engine

[logger_alembic]
level = INFO
handlers =
qualname = alembic

[handler_console]
class = StreamHandler
args = (sys.stderr,)
level = NOTSET
formatter = generic

[formatter_generic]
format = %(levelname)-5.5s [%(name)s] %(message)s
"""


@pytest.fixture(scope="module")
def stock_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The stock env.py (it calls fileConfig) with alembic init's logging sections."""
    project = make_project(tmp_path_factory.mktemp("stock"), "stock_env", env="stock")
    ini = project / "alembic.ini"
    head = ini.read_text().split("[loggers]")[0]
    ini.write_text(head + ALEMBIC_LOGGING)
    return project


def run_cli(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gauntlet_sync", "-c", "alembic.ini", *args],
        cwd=project,
        env=child_env(GAUNTLET_DSN=EmbeddedPostgres.shared().dsn),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("quiet", [(), ("-q",)], ids=["default", "-q"])
def test_alembic_info_logging_is_quiet_below_verbose(
    stock_project: Path, quiet: tuple[str, ...]
) -> None:
    done = run_cli(stock_project, *quiet, "--only", "upgrade,stairway")
    assert done.returncode == 0, done.stderr
    assert "INFO" not in done.stderr
    assert "Running upgrade" not in done.stderr
    assert "Running upgrade" not in done.stdout


def test_verbose_shows_everything_env_py_logs(stock_project: Path) -> None:
    done = run_cli(stock_project, "-v", "--only", "upgrade")
    assert done.returncode == 0, done.stderr
    assert "INFO  [alembic.runtime.migration] Running upgrade" in done.stderr


def test_the_cli_leaves_the_logging_floor_as_it_found_it(stock_project: Path) -> None:
    import logging

    before = logging.root.manager.disable
    assert cli.main(["-q", "-c", str(stock_project / "alembic.ini"), "--only", "single_head"]) == 0
    assert logging.root.manager.disable == before


def _without_script_location(project: Path) -> Path:
    ini = project / "alembic.ini"
    lines = ini.read_text().splitlines()
    ini.write_text("\n".join(line for line in lines if not line.startswith("script_location")))
    return ini


def test_script_location_defaults_to_migrations_beside_the_ini(tmp_path: Path) -> None:
    project = make_project(tmp_path, "clean")
    ini = _without_script_location(project)
    with pytest.raises(ConfigError, match=r"no .*migrations directory.*--script-location"):
        load_alembic_config(GauntletConfig(alembic_ini=ini))
    (project / "env").rename(project / "migrations")
    config = load_alembic_config(GauntletConfig(alembic_ini=ini))
    assert config.get_main_option("script_location") == str(project / "migrations")


def test_the_cli_takes_script_location(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = make_project(tmp_path, "clean")
    ini = _without_script_location(project)
    assert cli.main(["-q", "-c", str(ini), "--only", "single_head"]) == 2
    assert "--script-location" in capsys.readouterr().err
    code = cli.main(
        ["-q", "-c", str(ini), "--script-location", str(project / "env"), "--only", "upgrade"]
    )
    assert code == 0, capsys.readouterr()


def test_the_embedded_server_gives_an_alembic_ready_url() -> None:
    pg = EmbeddedPostgres.shared()
    assert "%" in pg.url.render_as_string()  # the socket directory is escaped...
    config = Config()
    config.set_main_option("sqlalchemy.url", pg.alembic_url)  # ...and this does not raise
    url = config.get_main_option("sqlalchemy.url")
    assert url == pg.url.render_as_string(hide_password=False)
    engine = create_engine(url or "", poolclass=NullPool)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT 1")).scalar() == 1
    finally:
        engine.dispose()


def test_help_lists_script_location() -> None:
    assert "--script-location" in cli.build_parser().format_help()

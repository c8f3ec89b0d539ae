"""Every common shape of env.py runs every check, unmodified, on the driver it names.

The ``alembic init`` templates are generated from the installed alembic at test time
(generic, async, pyproject and pyproject_async where this alembic has them, multidb with
one database); the hand-written shapes live in tests/env_shapes/. All run the ``clean``
history's revisions (multidb: the same revisions in its template's form) and must pass
every check; a revision_data callable records the driver each migration ran on.

Named for what it holds, not for one module: every env.py shape, through every check.
"""

from __future__ import annotations

import asyncio
import gc
import re
import warnings
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text

from gauntlet_sync import (
    DEFAULT_CHECKS,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    MigrationEnvironmentError,
)
from tests.histories import catalog

SHAPES = Path(__file__).resolve().parent / "env_shapes"
TEMPLATES = Path(command.__file__).resolve().parent / "templates"
CLEAN_VERSIONS = catalog.HISTORIES / "clean" / "versions"


pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


def template_env(tmp_path: Path, template: str, url: str, versions: Path = CLEAN_VERSIONS) -> Path:
    """``alembic init -t <template>`` from the installed alembic, pointed at ``versions``;
    returns the alembic.ini. The generated env.py is not touched."""
    ini = tmp_path / "alembic.ini"
    toml = tmp_path / "pyproject.toml"
    config = Config(str(ini), toml_file=str(toml)) if "pyproject" in template else Config(str(ini))
    command.init(config, str(tmp_path / "migrations"), template=template)
    text_ = ini.read_text()
    text_ = re.sub(r"(?m)^sqlalchemy\.url = .*$", f"sqlalchemy.url = {url}", text_)
    location = f"version_locations = {versions}"
    if toml.exists():
        toml.write_text(
            toml.read_text().replace(
                "[tool.alembic]\n", f'[tool.alembic]\nversion_locations = ["{versions}"]\n', 1
            )
        )
    elif template == "multidb":
        text_ = re.sub(r"(?m)^databases = .*$", "databases = engine1", text_)
        text_ = re.sub(r"(?ms)^\[engine2\].*?(?=^\[)", "", text_)
        text_ = text_.replace("[alembic]\n", f"[alembic]\n{location}\n", 1)
    else:
        text_ = text_.replace("[alembic]\n", f"[alembic]\n{location}\n", 1)
    ini.write_text(text_)
    return ini


def run_all_checks(ini: Path, history: str = "clean", **config: Any) -> tuple[Any, list[str]]:
    """run_all on ``ini`` with ``history``'s models; also returns the drivers the first
    revision's migration ran on (once per walk that applied it)."""
    drivers: list[str] = []

    def record(conn: Any) -> None:
        drivers.append(conn.dialect.driver + (" async" if conn.dialect.is_async else ""))

    cfg = GauntletConfig(
        alembic_ini=str(ini),
        metadata=catalog.load_metadata(history),
        revision_data={_first_revision(history): record},
        **config,
    )
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    return report, drivers


def _first_revision(history: str) -> str:
    return {"clean": "a1000001", "no_trace": "j1000001"}[history]


def statuses(report: Any) -> dict[str, str]:
    return {r.name: r.status for r in report.results}


ALL_PASSED = dict.fromkeys(DEFAULT_CHECKS, "passed")


def available(template: str) -> bool:
    return (TEMPLATES / template / "env.py").is_file()


def _dsn_url(driver: str) -> str:
    return f"postgresql+{driver}://app:secret@db.invalid:5432/app"


TEMPLATE_CASES: list[tuple[str, str, str]] = [
    # (template, sqlalchemy.url's driver, the driver migrations must run on)
    ("generic", "psycopg", "psycopg"),
    ("generic", "psycopg2", "psycopg2"),
    ("async", "asyncpg", "asyncpg async"),
    ("async", "psycopg", "psycopg async"),
    ("pyproject", "psycopg", "psycopg"),
    ("pyproject_async", "asyncpg", "asyncpg async"),
    ("multidb", "psycopg", "psycopg"),
]


@pytest.mark.parametrize(
    ("template", "named", "runs_on"), TEMPLATE_CASES, ids=[f"{t}+{d}" for t, d, _ in TEMPLATE_CASES]
)
def test_alembic_init_templates_run_every_check(
    tmp_path: Path, template: str, named: str, runs_on: str
) -> None:
    if not available(template):
        pytest.skip(f"the installed alembic has no {template!r} template")
    versions = SHAPES / "multidb_versions" if template == "multidb" else CLEAN_VERSIONS
    ini = template_env(tmp_path, template, _dsn_url(named), versions)
    report, drivers = run_all_checks(ini)
    assert statuses(report) == ALL_PASSED, str(report)
    assert drivers and set(drivers) == {runs_on}


HAND_WRITTEN: list[tuple[str, str, str]] = [
    # (shape, what it does, the driver migrations must run on)
    ("pytest_alembic", "an Engine expected in config.attributes['connection']", "psycopg"),
    ("engine_begin", "an Engine expected there: `with connectable.begin()`", "psycopg"),
    ("pytest_alembic_async", "pytest-alembic's asyncio recipe, +asyncpg", "psycopg"),
    ("url_only", "only sqlalchemy.url, with %(here)s and environment variables", "psycopg"),
    ("settings_module", "its engine from the project's settings module", "psycopg"),
    ("cached_engine", "one pooled engine per URL, cached for the process", "psycopg"),
    ("loop_thread", "an async engine in an event loop on another thread", "asyncpg async"),
    ("connection_engine", "mlflow's: its own connection from the hand-over's .engine", "psycopg"),
]


@pytest.mark.parametrize(
    ("shape", "what", "runs_on"), HAND_WRITTEN, ids=[s for s, _, _ in HAND_WRITTEN]
)
def test_hand_written_env_shapes_run_every_check(shape: str, what: str, runs_on: str) -> None:
    report, drivers = run_all_checks(SHAPES / shape / "alembic.ini")
    assert statuses(report) == ALL_PASSED, f"{what}\n{report}"
    assert set(drivers) == {runs_on}


def test_the_cookbook_env_runs_every_check() -> None:
    """A Connection expected in config.attributes['connection'] (tests/histories/_envs)."""
    report, drivers = run_all_checks(Path(catalog.ini("clean")))
    assert statuses(report) == ALL_PASSED, str(report)
    assert set(drivers) == {"psycopg"}


def test_no_trace_through_an_async_env_reports_its_verdict(tmp_path: Path) -> None:
    """The catalog is read inside the async migration's own transaction, on its driver."""
    versions = catalog.HISTORIES / "no_trace" / "versions"
    ini = template_env(tmp_path, "async", _dsn_url("asyncpg"), versions)
    report, drivers = run_all_checks(ini, "no_trace")
    got = statuses(report)
    assert got == {**ALL_PASSED, "no_trace": "failed"}, str(report)
    message = report.get("no_trace").message
    for words in ("j1000002", "normalize_email", "country"):
        assert words in message, message
    assert set(drivers) == {"asyncpg async"}


def test_a_cached_engine_is_left_with_no_connection_to_the_run(tmp_path: Path) -> None:
    """The engine env.py caches for the process outlives the run: what it pooled for the
    isolated schemas is closed with them, and outside env.py it connects where its own
    URL says again."""
    import sys

    report, _ = run_all_checks(SHAPES / "cached_engine" / "alembic.ini")
    assert report.ok, str(report)
    engines = sys.modules["shape_db"]._engines
    assert engines
    pg = EmbeddedPostgres.shared()
    from sqlalchemy import create_engine

    probe = create_engine(pg.dsn.replace("postgresql://", "postgresql+psycopg://"))
    with probe.connect() as conn:
        left = conn.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'"
            )
        ).scalar()
    probe.dispose()
    assert left == 0


# -- errors blame the right party ------------------------------------------------------


def _env_dir(tmp_path: Path, env_py: str) -> Path:
    """An alembic.ini in ``tmp_path`` whose env.py is ``env_py``, on the clean revisions."""
    (tmp_path / "env.py").write_text(env_py)
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        f"[alembic]\nscript_location = {tmp_path}\nversion_locations = {CLEAN_VERSIONS}\n"
        "path_separator = os\nsqlalchemy.url = postgresql+psycopg://app@db.invalid/app\n"
    )
    return ini


def _gauntlet(ini: Path, dsn: str | None = None) -> Gauntlet:
    config = GauntletConfig(alembic_ini=str(ini), metadata=catalog.load_metadata("clean"))
    return Gauntlet(dsn, config)


def test_an_async_env_on_a_sync_driver_names_the_driver_to_name(tmp_path: Path) -> None:
    ini = template_env(tmp_path, "async", _dsn_url("asyncpg"))
    dsn = EmbeddedPostgres.shared().dsn.replace("postgresql://", "postgresql+psycopg2://")
    with _gauntlet(ini, dsn) as gauntlet, pytest.raises(MigrationEnvironmentError) as info:
        gauntlet.check_upgrade()
    message = str(info.value)
    assert "async engine" in message and "+psycopg2 (the DSN)" in message, message
    assert "+asyncpg" in message and "Fix env.py" not in message


def test_a_use_of_the_hand_over_it_does_not_support_says_what_was_handed_over(
    tmp_path: Path,
) -> None:
    ini = _env_dir(
        tmp_path,
        "from alembic import context\n"
        "connectable = context.config.attributes['connection']\n"
        "raw = connectable.raw_connection()\n",
    )
    with _gauntlet(ini) as gauntlet, pytest.raises(MigrationEnvironmentError) as info:
        gauntlet.check_upgrade()
    message = str(info.value)
    assert "raw_connection" in message and "connect(), begin(), dispose() and url" in message
    assert "Fix env.py" not in message


def test_env_py_calling_asyncio_run_inside_a_running_loop_is_told_why(tmp_path: Path) -> None:
    ini = template_env(tmp_path, "async", _dsn_url("asyncpg"))

    async def inside_a_loop() -> None:
        with _gauntlet(ini) as gauntlet:
            gauntlet.check_upgrade()

    with warnings.catch_warnings():
        # the coroutine env.py could not run is never awaited: expected here, not news
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(MigrationEnvironmentError) as info:
            asyncio.run(inside_a_loop())
        message = str(info.value)
        del info
        gc.collect()
    assert "asyncio.to_thread" in message, message


def test_a_connection_kept_from_an_earlier_run_is_refused(tmp_path: Path) -> None:
    """An env.py that migrates on a connection it opened in an earlier run would migrate
    a schema that is gone (or a database that is not the target): refused, not run."""
    ini = _env_dir(
        tmp_path,
        "import sys\n"
        "from alembic import context\n"
        "from sqlalchemy import create_engine\n"
        "kept = sys.modules.setdefault('gauntlet_kept_connection', type(sys)('k'))\n"
        "if not hasattr(kept, 'conn'):\n"
        "    url = context.config.get_main_option('sqlalchemy.url')\n"
        "    kept.conn = create_engine(url).connect()\n"
        "context.configure(connection=kept.conn)\n"
        "with context.begin_transaction():\n"
        "    context.run_migrations()\n",
    )
    try:
        with _gauntlet(ini) as gauntlet:
            gauntlet.check_upgrade()  # opened while env.py ran: this run's connection
            with pytest.raises(MigrationEnvironmentError, match="did not hand over or open"):
                gauntlet.check_upgrade()
    finally:
        import sys

        kept = sys.modules.pop("gauntlet_kept_connection", None)
        if kept is not None:
            kept.conn.close()

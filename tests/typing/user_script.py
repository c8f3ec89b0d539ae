"""A user's script touching every public entry point, type-checked with ``mypy --strict``
by tests/test_typing.py (never run: it only has to type-check, as a user's code would).

Each line is something the README or the docstrings tell a user to write; a public type
that is wrong or missing fails the test.
"""

from __future__ import annotations

import unittest
from collections.abc import Iterator

import psycopg
from alembic.config import Config
from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Connection

import gauntlet_sync
from gauntlet_sync import (
    CHECK_NAMES,
    DEFAULT_CHECKS,
    DEFAULT_IGNORE_TABLES,
    CheckFailed,
    CheckResult,
    CheckSkipped,
    CheckStarted,
    ConfigError,
    DowngradeLeftTraceError,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    GauntletError,
    GauntletFailed,
    GauntletMixin,
    GauntletWarning,
    IsolatedDatabase,
    NamingRule,
    Progress,
    ProgressEvent,
    Report,
    SchemaValidationError,
    StairwayError,
    Step,
    WalkScope,
    cleanup_stale,
    cli,
    utils,
    validate_schema_name,
)
from gauntlet_sync.dsn import mask, redact, to_url


def on_progress(event: ProgressEvent) -> None:
    if isinstance(event, CheckStarted):
        name: str = event.name
        print(name)
    elif isinstance(event, Progress):
        step: Step = event.step
        where: str = f"{event.walk} {event.index}/{event.total} {step.label} {step.revision}"
        upgrading: bool = step.is_upgrade
        print(where, upgrading)
    else:
        result: CheckResult = event
        print(result.name, result.status, result.seconds)


def prepare(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT 1")


def seed_rows(conn: Connection) -> None:
    conn.exec_driver_sql("SELECT 1")


metadata = MetaData()
config = GauntletConfig(
    alembic_ini="alembic.ini",
    ini_section="alembic",
    script_location="migrations",
    metadata=metadata,
    ignore_tables=("audit_log",),
    compare_server_default=True,
    naming_rules={"ix": NamingRule(prefixes=("ix_",), suffixes=("_idx",))},
    minimum_downgrade_revision=None,
    isolation="database",
    prepare=prepare,
    revision_data={"abc": {"orders": [{"id": 1}]}, "def": seed_rows},
    statement_timeout=30.0,
    lock_timeout=5.0,
    connect_timeout=5,
    schema_prefix="ci",
    parallel=False,
)
variant: GauntletConfig = config.replace(metadata="myapp.models:Base.metadata")
ignored: frozenset[str] = variant.ignored_tables | DEFAULT_IGNORE_TABLES
ready = GauntletConfig(alembic_config=Config("alembic.ini"), attributes={"tenant": "x"})
sharded = GauntletConfig(changed_since="origin/main", shard=(2, 4), shard_timings="report.json")
names: tuple[str, ...] = CHECK_NAMES
default_names: tuple[str, ...] = DEFAULT_CHECKS
with_offline = GauntletConfig(extra_checks=["offline"], safety_rows=False)


def run(dsn: str | None) -> bool:
    with Gauntlet(dsn, config, progress=on_progress) as gauntlet:
        gauntlet.check_single_head()
        gauntlet.check_upgrade()
        gauntlet.check_stairway()
        gauntlet.check_downgrade_to_base()
        gauntlet.check_models_match()
        gauntlet.check_check_constraints()
        gauntlet.check_enums()
        naming_warnings: list[str] = gauntlet.check_naming()
        print(naming_warnings)
        gauntlet.check_no_trace()
        gauntlet.check_isolation()
        revisions: list[str] = gauntlet.revisions()
        heads: list[str] = gauntlet.heads()
        target: str = gauntlet.target
        dropped: list[str] = gauntlet.cleanup_stale(older_than=60.0)
        print(revisions, heads, target, dropped)
        with gauntlet.isolated() as db:
            hand_written(db)
        try:
            report: Report = gauntlet.run_all(["stairway"], skip=["no_trace"])
        except GauntletFailed as exc:
            report = exc.report
            errors: tuple[GauntletError, ...] = exc.errors
            print(len(errors))
        except StairwayError as exc:
            print(exc.revision, exc.step, exc.problems, exc.message, exc.check)
            return False
        for result in report.results:
            revision: str | None = result.revision
            where: str | None = result.step
            problems: tuple[str, ...] = result.problems
            error: GauntletError | None = result.error
            noticed: tuple[str, ...] = result.warnings
            print(result.message, result.summary, result.reason, revision, where, problems, error)
            print(noticed, issubclass(GauntletWarning, UserWarning))
        print(report.get("stairway").status, report.by_status("failed", "error"), report.ok)
        print(str(report), report.to_json(indent=2), report.to_dict(), report.to_junit_xml())
        scope: WalkScope | None = report.scope
        if scope is not None:
            walked: tuple[str, ...] = scope.walked
            why: str | None = scope.not_walked.get("a1")
            shard: tuple[int, int] | None = scope.shard
            print(walked, why, shard, scope.changed_since, scope.note, scope.lines())
        timings: float = sum(report.revision_seconds.values())
        print(timings)
        return report.ok


def hand_written(db: IsolatedDatabase) -> None:
    db.migrate_to("abc")
    db.insert("products", [{"id": 1, "name": "mug"}])
    db.upgrade("def")
    db.upgrade()
    rows: list[tuple[object, ...]] = db.fetch("SELECT name FROM products WHERE id = :id", {"id": 1})
    db.execute("DELETE FROM products")
    db.downgrade("-1")
    db.downgrade()
    current: str | tuple[str, ...] | None = db.current_revision()
    connection: Connection = db.connection
    schema: str = db.schema
    print(rows, current, connection, schema)


class MigrationTests(GauntletMixin, unittest.TestCase):
    gauntlet_config = config
    gauntlet_dsn = None
    gauntlet_skip_checks = ("no_trace",)
    gauntlet_config_overrides = {"isolation": "schema"}
    gauntlet_share_run = True
    gauntlet_progress = True
    migration_diff_ignore_tables = ("audit_log",)
    allowed_index_prefixes = ("ix_",)
    allowed_index_suffixes = ("_idx",)
    allowed_fk_suffixes = ("_fkey",)

    def test_one_head(self) -> None:
        self.assertEqual(len(self.gauntlet.heads()), 1)

    def test_the_report(self) -> None:
        report: Report = self.gauntlet_report()
        enabled: list[str] = self.gauntlet_enabled_checks()
        effective: GauntletConfig = self.gauntlet_effective_config()
        print(report, enabled, effective)


def embedded() -> Iterator[str]:
    with EmbeddedPostgres() as pg:
        yield pg.dsn
        config = Config("alembic.ini")
        config.set_main_option("sqlalchemy.url", pg.alembic_url)
        with psycopg.connect(pg.dsn) as conn:
            print(conn.execute("SELECT version()").fetchone())
        engine = create_engine(pg.url)
        print(engine, pg.port, pg.socket_dir, pg.version, pg.is_running(), pg.tcp_dsn)
    shared: EmbeddedPostgres = EmbeddedPostgres.shared()
    yield shared.dsn


def errors() -> None:
    try:
        validate_schema_name("gauntlet_x")
    except SchemaValidationError as exc:
        print(exc)
    try:
        dropped: list[str] = cleanup_stale(None, older_than=60.0, prefix="gauntlet")
        print(dropped)
    except (ConfigError, CheckSkipped, CheckFailed, DowngradeLeftTraceError) as exc:
        print(exc)


def dsn_helpers() -> None:
    url = to_url("postgres://me:secret@db.example/app")
    print(mask(url), mask("host=db password=secret"), redact("... secret ...", url))


def ported(engine_url: str) -> None:
    engine = create_engine(engine_url)
    alembic_config = Config("alembic.ini")
    with utils.create_isolated_migration_schema(engine) as schema:
        utils.run_alembic_upgrade(engine, alembic_config, schema)
        current: str | None = utils.get_current_revision(engine, schema)
        all_revisions: list[str] = utils.get_all_revisions(alembic_config)
        with engine.connect() as conn:
            found = utils.fetch_table_naming_results(conn, schema)
        utils.validate_naming_results(found, ["ix_"], ["_idx"], ["_fkey"])
        utils.validate_schema_name(schema)
        utils.run_alembic_downgrade(engine, alembic_config, schema)
        print(current, all_revisions, utils.DEFAULT_IGNORE_TABLES)


def command_line() -> int:
    code: int = cli.main(["-c", "alembic.ini", "--script-location", "migrations", "-q"])
    return code


version: str = gauntlet_sync.__version__

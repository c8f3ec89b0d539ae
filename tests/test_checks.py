"""Every check against the hand-written histories in tests/histories, on the embedded server.

Each history breaks exactly one check (catalog.EXPECTATIONS says which, with the error
type, the revision and the words its message must contain); the other checks must stay
quiet. ``run_all`` shares work between checks, so every verdict is also compared with the
one the check gives when run on its own.

Named for what it holds, not for one module: every check of ``gauntlet_sync.checks`` on the
hand-written histories.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import gauntlet_sync
from gauntlet_sync import (
    DEFAULT_CHECKS,
    CheckFailed,
    CheckSkipped,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    GauntletError,
    GauntletFailed,
)
from tests.histories import catalog
from tests.reliability import leftovers

EXPECTATIONS = catalog.EXPECTATIONS


def _id(exp: catalog.Expectation) -> str:
    return exp.history + ("+" + "+".join(exp.config) if exp.config else "")


def _config(exp: catalog.Expectation, **extra: Any) -> GauntletConfig:
    return GauntletConfig(
        alembic_ini=catalog.ini(exp.history),
        metadata=catalog.load_metadata(exp.history),
        **{**exp.config, **extra},
    )


def _expected_statuses(exp: catalog.Expectation) -> dict[str, str]:
    statuses = dict(exp.statuses)
    statuses["isolation"] = (
        "failed"
        if exp.failing_check == "isolation"
        else ("error" if statuses["upgrade"] == "failed" else "passed")
    )
    return statuses


def leftover_schemas() -> list[str]:
    """Isolated schemas and databases still on the shared server."""
    return leftovers(EmbeddedPostgres.shared())


pytestmark = pytest.mark.usefixtures("no_leftovers")  # tests/conftest.py


class _Reports(dict[str, gauntlet_sync.Report]):
    """One run_all per expectation, made when a test first reads it: a pytest-xdist worker
    runs only those of the expectations its tests read."""

    def __missing__(self, key: str) -> gauntlet_sync.Report:
        (exp,) = (e for e in EXPECTATIONS if _id(e) == key)
        with Gauntlet(None, _config(exp)) as gauntlet:
            report = self[key] = gauntlet.run_all(raise_on_failure=False)
        return report


@pytest.fixture(scope="module")
def reports() -> dict[str, gauntlet_sync.Report]:
    """One run_all per expectation, shared by the tests that read it."""
    return _Reports()


@pytest.mark.parametrize("exp", EXPECTATIONS, ids=_id)
def test_run_all_gives_each_check_its_expected_status(
    exp: catalog.Expectation, reports: dict[str, gauntlet_sync.Report]
) -> None:
    report = reports[_id(exp)]
    got = {r.name: r.status for r in report.results}
    assert got == _expected_statuses(exp), str(report)
    assert [r.name for r in report.results] == list(DEFAULT_CHECKS)
    assert report.ok == all(s in ("passed", "skipped") for s in got.values())


@pytest.mark.parametrize("exp", [e for e in EXPECTATIONS if e.failing_check], ids=_id)
def test_the_broken_check_names_revision_and_objects(
    exp: catalog.Expectation, reports: dict[str, gauntlet_sync.Report]
) -> None:
    result = reports[_id(exp)].get(exp.failing_check or "")
    assert result.status == "failed"
    assert type(result.error).__name__ == exp.error_class
    assert isinstance(result.error, CheckFailed)
    assert result.error.check == exp.failing_check
    for words in exp.message_contains:
        assert words in result.message, result.message
    if exp.revision:
        assert exp.revision in result.message
        assert result.error.revision == exp.revision
    assert result.error.problems, "problems lists each finding"


@pytest.mark.parametrize("exp", EXPECTATIONS, ids=_id)
def test_each_check_alone_gives_the_run_all_verdict(
    exp: catalog.Expectation, reports: dict[str, gauntlet_sync.Report]
) -> None:
    """The shared-work path of run_all must not change any verdict."""
    report = reports[_id(exp)]
    with Gauntlet(None, _config(exp)) as gauntlet:
        for name in DEFAULT_CHECKS:
            method = getattr(gauntlet, f"check_{name}")
            try:
                method()
            except CheckSkipped:
                status = "skipped"
            except CheckFailed as exc:
                status = "failed" if exc.check == name else "error"
                assert type(exc) is type(report.get(name).error)
            else:
                status = "passed"
            assert status == report.get(name).status, name


def test_run_all_raises_with_the_whole_report_by_default() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "models_drift")
    with Gauntlet(None, _config(exp)) as gauntlet, pytest.raises(GauntletFailed) as caught:
        gauntlet.run_all()
    assert caught.value.report.get("models_match").status == "failed"
    assert [type(e).__name__ for e in caught.value.errors] == ["SchemaDriftError"]
    assert "add column orders.note VARCHAR(20)" in str(caught.value)


def test_run_all_selects_and_skips_checks() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    with Gauntlet(None, _config(exp)) as gauntlet:
        report = gauntlet.run_all(["upgrade", "naming", "stairway"], skip=["stairway"])
        assert [r.name for r in report.results] == ["upgrade", "naming"]
        with pytest.raises(gauntlet_sync.ConfigError, match="Known checks"):
            gauntlet.run_all(["stairways"])


def test_revision_data_turns_a_not_null_column_into_a_failure() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "revision_data")
    data = {"s1000001": {"orders": [{"id": 1, "status": "new"}, {"id": 2, "status": "paid"}]}}
    with Gauntlet(None, _config(exp, revision_data=data)) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    assert report.get("upgrade").status == "failed"
    assert report.get("stairway").status == "failed"
    for name in ("upgrade", "stairway"):
        message = report.get(name).message
        assert "s1000002" in message and "total" in message, message


def test_revision_data_is_inserted_once_per_walk_not_again_on_re_upgrade() -> None:
    """Rows for a3 go into customers (created by a1): a3's downgrade keeps them, so
    inserting them again after the stairway's re-upgrade would collide on the key."""
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    data = {"a1000003": {"customers": [{"id": 7, "email": "x@example.com", "name": "X"}]}}
    with Gauntlet(None, _config(exp, revision_data=data)) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    assert report.ok, str(report)


def test_revision_data_accepts_a_callable() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "revision_data")
    calls: list[str] = []

    def seed(conn: Any) -> None:
        calls.append("seed")
        conn.execute(text("INSERT INTO orders (id, status) VALUES (7, 'new')"))

    with Gauntlet(None, _config(exp, revision_data={"s1000001": seed})) as gauntlet:
        with pytest.raises(gauntlet_sync.UpgradeError, match="s1000002"):
            gauntlet.check_upgrade()
    assert calls == ["seed"]


def test_progress_reports_every_step_of_the_walks() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    events: list[Any] = []
    with Gauntlet(None, _config(exp), progress=events.append) as gauntlet:
        gauntlet.run_all()
    steps = [e for e in events if isinstance(e, gauntlet_sync.Progress)]
    stairway = [(e.step.revision, e.step.label) for e in steps if e.walk == "stairway"]
    revisions = gauntlet.revisions()
    assert stairway == [
        (r, label) for r in revisions for label in ("upgrade", "downgrade", "re-upgrade")
    ]
    assert {e.total for e in steps if e.walk == "stairway"} == {len(revisions)}
    finished = [e.name for e in events if isinstance(e, gauntlet_sync.CheckResult)]
    assert finished == list(DEFAULT_CHECKS) or sorted(finished) == sorted(DEFAULT_CHECKS)


def test_models_checks_skip_without_metadata() -> None:
    with Gauntlet(None, GauntletConfig(alembic_ini=catalog.ini("stock_env"))) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    for name in ("models_match", "check_constraints", "enums"):
        result = report.get(name)
        assert result.status == "skipped", name
        assert "metadata" in result.reason
    assert report.get("naming").status == "passed"  # built-in rules need no models
    assert report.ok


def test_env_py_target_metadata_is_used_when_none_is_given() -> None:
    metadata = catalog.load_metadata("filtered_env")
    config = GauntletConfig(
        alembic_ini=catalog.ini("filtered_env"), attributes={"target_metadata": metadata}
    )
    with Gauntlet(None, config) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    assert report.get("models_match").status == "passed"
    assert report.get("check_constraints").status == "passed"


def test_database_isolation_runs_every_check() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    with Gauntlet(None, _config(exp, isolation="database")) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    statuses = {r.name: r.status for r in report.results}
    assert statuses.pop("isolation") == "skipped"
    assert set(statuses.values()) == {"passed"}, str(report)
    assert leftover_schemas() == []


def test_prepare_runs_on_each_fresh_schema_before_migrations() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    schemas: list[str] = []

    def prepare(conn: Any) -> None:
        schemas.append(conn.execute(text("SELECT current_schema()")).scalar_one())
        conn.execute(text("CREATE TABLE baseline_marker (id int)"))

    with Gauntlet(None, _config(exp, prepare=prepare, ignore_tables=["baseline_marker"])) as g:
        g.check_upgrade()
        g.check_naming()
    assert len(schemas) == 2 and len(set(schemas)) == 2
    assert all(s.startswith("gauntlet_") for s in schemas)


def test_minimum_downgrade_revision_must_exist() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    with pytest.raises(gauntlet_sync.ConfigError, match="nope"):
        Gauntlet(None, _config(exp, minimum_downgrade_revision="nope"))


def test_errors_form_one_hierarchy() -> None:
    names = [n for n in gauntlet_sync.__all__ if n.endswith("Error") or n in ("CheckFailed",)]
    for name in names:
        assert issubclass(getattr(gauntlet_sync, name), GauntletError), name


def test_objects_a_migration_put_outside_are_undone_by_its_own_downgrades() -> None:
    exp = next(e for e in EXPECTATIONS if e.history == "escape")
    with Gauntlet(None, _config(exp)) as gauntlet:
        with pytest.raises(gauntlet_sync.IsolationEscapeError, match="public.leak"):
            gauntlet.check_isolation()
        engine = create_engine(EmbeddedPostgres.shared().dsn, poolclass=NullPool)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT to_regclass('public.leak')")).scalar() is None
        engine.dispose()


# --- the forked head group -------------------------------------------------------------------


def _verdicts(report: Any) -> list[tuple[str, str, str, str]]:
    return [
        (r.name, r.status, type(r.error).__name__, (r.message or "").split("gauntlet_")[0])
        for r in report.results
    ]


def _event(event: Any) -> tuple[str, ...]:
    if isinstance(event, gauntlet_sync.Progress):
        step = event.step
        return (event.walk, step.revision, step.label, str(event.index), str(event.total))
    if isinstance(event, gauntlet_sync.CheckResult):
        return ("finished", event.name, event.status)
    return ("started", event.name)


@pytest.mark.parametrize("history", ["clean", "downgrade_fails", "models_drift", "no_trace"])
def test_forked_and_serial_run_all_agree(history: str) -> None:
    """run_all forks the models checks and downgrade_to_base beside the walk; the verdicts,
    error types, messages and progress events are those of the serial run."""
    exp = next(e for e in EXPECTATIONS if e.history == history)
    runs = {}
    for parallel in (True, False):
        events: list[Any] = []
        with Gauntlet(None, _config(exp, parallel=parallel), progress=events.append) as g:
            report = g.run_all(raise_on_failure=False)
        runs[parallel] = (_verdicts(report), sorted(map(_event, events)))
        for result in report.results:
            if isinstance(result.error, CheckFailed):  # crossed the pipe intact
                assert result.error.check and isinstance(result.error.problems, tuple)
    assert runs[True][0] == runs[False][0]
    assert runs[True][1] == runs[False][1]
    assert leftover_schemas() == []


def test_no_fork_while_another_thread_runs() -> None:
    """A thread holding a lock at fork time would leave it held in the child: run serially."""
    import threading

    from gauntlet_sync import forked

    assert forked.possible()
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        assert not forked.possible()
        exp = next(e for e in EXPECTATIONS if e.history == "clean")
        with Gauntlet(None, _config(exp)) as gauntlet:
            assert gauntlet.run_all().ok
    finally:
        stop.set()
        thread.join()


@pytest.mark.parametrize("history", ["clean", "no_trace", "stairway_fails", "downgrade_fails"])
def test_a_split_stairway_reads_as_one_walk(history: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Long histories split the stairway with no_trace between two processes; forced on
    these short ones, verdicts and messages are those of one walk, also when the first
    half fails and the second half is thrown away. Progress comes from both processes as
    it happens (issue 16): each part's events are the one walk's, in its order."""
    from gauntlet_sync import scheduler

    monkeypatch.setattr(scheduler, "SPLIT_WALK_FROM", 2)
    splits: list[int] = []
    split = scheduler.split_walk
    monkeypatch.setattr(scheduler, "split_walk", lambda *args: splits.append(1) or split(*args))
    exp = next(e for e in EXPECTATIONS if e.history == history)
    runs = {}
    for parallel in (True, False):
        events: list[Any] = []
        with Gauntlet(None, _config(exp, parallel=parallel), progress=events.append) as g:
            report = g.run_all(raise_on_failure=False)
        walk = [_event(e) for e in events if getattr(e, "walk", None) == "stairway"]
        runs[parallel] = (_verdicts(report), walk)
    assert runs[True][0] == runs[False][0]
    parallel_walk, serial_walk = runs[True][1], runs[False][1]
    total = int(serial_walk[0][4])
    mine = max(1, min(total - 1, round(total * scheduler.SPLIT_SHARE)))

    def part(walk: list[tuple[str, ...]], child: bool) -> list[tuple[str, ...]]:
        return [e for e in walk if (int(e[3]) > mine) == child]

    assert part(parallel_walk, False) == part(serial_walk, False)
    child_part, serial_tail = part(parallel_walk, True), part(serial_walk, True)
    if serial_tail:  # the walk got past the first part: the child's part is the serial one
        assert child_part == serial_tail
    else:  # the first part failed and the child was stopped: what it reported is in order
        indexes = [int(e[3]) for e in child_part]
        assert indexes == sorted(indexes)
    assert splits == [1]  # the parallel run split, the serial one did not
    assert leftover_schemas() == []


def test_a_split_child_that_cannot_catch_up_leaves_the_rest_to_the_parent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gauntlet_sync import scheduler, walks

    monkeypatch.setattr(scheduler, "SPLIT_WALK_FROM", 2)
    walk = walks.walk

    def failing_catch_up(session: Any, steps: Any, *, name: str, **kw: Any) -> Any:
        if name == "catch up":  # runs in the forked child only
            raise RuntimeError("the child could not catch up")
        return walk(session, steps, name=name, **kw)

    monkeypatch.setattr(walks, "walk", failing_catch_up)
    exp = next(e for e in EXPECTATIONS if e.history == "no_trace")
    events: list[Any] = []
    with Gauntlet(None, _config(exp), progress=events.append) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    with Gauntlet(None, _config(exp, parallel=False)) as gauntlet:
        serial = gauntlet.run_all(raise_on_failure=False)
    assert _verdicts(report) == _verdicts(serial)
    stairway = [_event(e)[1:3] for e in events if getattr(e, "walk", None) == "stairway"]
    assert len(stairway) == len(set(stairway))  # the child reached no step to report
    assert leftover_schemas() == []


def test_run_all_does_the_work_itself_when_the_system_will_not_fork(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import errno
    import os

    from gauntlet_sync import scheduler

    def no_fork() -> int:
        raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(scheduler, "SPLIT_WALK_FROM", 2)
    monkeypatch.setattr(os, "fork", no_fork)
    exp = next(e for e in EXPECTATIONS if e.history == "no_trace")
    open_fds = len(os.listdir("/proc/self/fd"))
    with Gauntlet(None, _config(exp)) as gauntlet:
        forked_report = gauntlet.run_all(raise_on_failure=False)
    with Gauntlet(None, _config(exp, parallel=False)) as gauntlet:
        serial_report = gauntlet.run_all(raise_on_failure=False)
    assert _verdicts(forked_report) == _verdicts(serial_report)
    assert len(os.listdir("/proc/self/fd")) <= open_fds + 1  # no pipe left open
    assert leftover_schemas() == []


def test_a_forked_child_lets_go_of_pooled_connections_it_inherits() -> None:
    """Ours and any engine the project hands env.py through attributes: a child using a
    pooled connection would talk over the parent's socket."""
    from sqlalchemy import create_engine

    engine = create_engine(EmbeddedPostgres.shared().dsn)
    with engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    assert engine.pool.checkedin() == 1
    exp = next(e for e in EXPECTATIONS if e.history == "clean")
    config = _config(exp, attributes={"engine": engine})
    from gauntlet_sync import scheduler

    with Gauntlet(None, config) as gauntlet, gauntlet.workspace.session() as session:
        scheduler.become_child(gauntlet._context(), lambda message: None, session)  # as a child
        assert engine.pool.checkedin() == 0
        session.forget_connection()
    engine.dispose()

"""gauntlet-sync's walks give the verdicts separate ``alembic`` commands give.

"The same as separate alembic commands" means: for ``stairway``, ``downgrade_to_base`` and
``no_trace``, the status, the failing revision and the step equal those of the same walk
made of one ``alembic upgrade`` / ``alembic downgrade`` command per step, each with a fresh
``Config``, ``ScriptDirectory``, env.py run and connection (``tests/reference.py``).
Held on:

* ``tests/histories/fidelity/``: hand-written histories of what autogenerate emits for
  PostgreSQL and what people write by hand, some broken on purpose;
* histories written by alembic's own autogenerate from hypothesis-drawn model changes,
  with defects put in at random (``tests/generated.py``).

Every hand-written history is also run with ``parallel=True`` and ``parallel=False``: the
results (status, revision, step, problems) must be equal.

``GAUNTLET_DIFFERENTIAL_EXAMPLES`` sets how many generated histories run (default 200);
thousands make the benchmark mode::

    GAUNTLET_DIFFERENTIAL_EXAMPLES=3000 python -m pytest tests/test_differential.py \\
        -k generated_histories

Named for what it holds, not for one module: verdicts held against separate alembic
commands, across the walks.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from hypothesis import HealthCheck, Phase, given, settings
from psycopg import sql
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from gauntlet_sync import CheckFailed, EmbeddedPostgres, Gauntlet, GauntletConfig, forked
from tests import generated
from tests.histories import catalog
from tests.reference import Reference, Verdict

FIDELITY = catalog.HISTORIES / "fidelity"
WALKS = ("stairway", "downgrade_to_base", "no_trace")
EXAMPLES = int(os.environ.get("GAUNTLET_DIFFERENTIAL_EXAMPLES", "200"))

#: Hand-written histories and what they must give (status, revision, step per walk);
#: the reference must give the same, which makes these an independent statement too.
PASS = {w: ("passed", None, None) for w in WALKS}


def _expect(**walks: tuple[str, str | None, str | None]) -> dict[str, tuple[Any, ...]]:
    return {**PASS, **walks}


def _leaves(revision: str) -> dict[str, tuple[Any, ...]]:
    """``revision``'s downgrade leaves something behind: its re-upgrade fails on it, and
    no_trace names it at the downgrade."""
    return _expect(
        stairway=("failed", revision, "re-upgrade"), no_trace=("failed", revision, "downgrade")
    )


def _downgrade_fails(revision: str) -> dict[str, tuple[Any, ...]]:
    """``revision``'s downgrade fails: every walk down stops there (no_trace has nothing to
    compare)."""
    return _expect(
        stairway=("failed", revision, "downgrade"),
        no_trace=("error", revision, "downgrade"),
        downgrade_to_base=("failed", revision, "downgrade"),
    )


CORPUS: dict[str, dict[str, tuple[Any, ...]]] = {
    # the enum patterns of issue 11: pass as separate commands do
    "enum_drop_type": PASS,
    "enum_drop_method": PASS,
    "enum_create_type_false": PASS,
    "enum_add_value_autocommit": PASS,
    # autogenerate's own downgrade leaves the enum type: the re-upgrade's CREATE TYPE fails
    "enum_autogenerate_leftover": _leaves("ef000001"),
    "enum_drop_in_use": _downgrade_fails("ee000001"),
    "columns_generated": PASS,
    "default_left": _expect(no_trace=("failed", "fb000002", "downgrade")),
    "indexes": PASS,
    "index_left": _expect(no_trace=("failed", "gb000002", "downgrade")),
    "exclusion": PASS,
    "comments": PASS,
    "comment_left": _expect(no_trace=("failed", "hc000002", "downgrade")),
    "batch_and_data": PASS,
    "data_left": _expect(stairway=("failed", "ib000002", "re-upgrade")),
    "views_functions_triggers": PASS,
    "trigger_wrong_order": _downgrade_fails("jb000001"),
    "view_left": _expect(
        stairway=("failed", "jc000002", "re-upgrade"),
        no_trace=("failed", "jc000002", "downgrade"),
        downgrade_to_base=("failed", "jc000001", "downgrade"),
    ),
    "renames": PASS,
    "rename_half": _leaves("kb000002"),
    "other_schema": PASS,
    "other_schema_left": _expect(no_trace=("failed", "lb000002", "downgrade")),
    "branches": PASS,
    "merge_broken": _expect(
        no_trace=("failed", "mb000004", "downgrade"),
        downgrade_to_base=("failed", "mb000003", "downgrade"),
    ),
    "noop_downgrade": _leaves("na000002"),
    "forgotten_drop": _leaves("nb000001"),
    "wrong_drop_order": _downgrade_fails("nc000001"),
    "downgrade_only_fails": _expect(
        stairway=("failed", "nd000003", "re-upgrade"),
    ),
    "extension": PASS,
    # a migration's SET, temporary table: session state that a new command never sees
    "session_left": PASS,
    "role_left": PASS,  # SET ROLE is not in pg_settings: set back apart
    # SET SESSION AUTHORIZATION in a downgrade: the next step runs as the login user
    "authorization_left": PASS,
    # four broken revisions (tests/test_keep_going.py walks on past each)
    "keep_going": _expect(
        stairway=("failed", "qa000002", "re-upgrade"),
        no_trace=("failed", "qa000002", "downgrade"),
        downgrade_to_base=("error", None, None),
    ),
    # optuna v2.4.0.a's shape: a step's CREATE TYPE fails where one command from an empty
    # database passes; keep_going walks on past it (tests/test_corpus_findings.py)
    "keep_going_rebuild": _expect(
        stairway=("failed", "qb000002", "upgrade"),
        no_trace=("error", "qb000002", "upgrade"),
    ),
    # gnocchi 34c517bcc2dd's shape: an upgrade that appends to a module-level list passes
    # as separate commands (each imports the file anew), whatever ran it before
    "module_state": PASS,
}
#: histories that make schemas of their own need a whole database
DATABASE_ISOLATION = {"other_schema", "other_schema_left"}


pytestmark = pytest.mark.usefixtures("no_leftovers")


def fidelity_config(name: str) -> Callable[[], Config]:
    """A fresh Config for hand-written history ``name`` on each call."""
    return lambda: Config(str(FIDELITY / "alembic.ini"), config_args={"history": name})


Outcome = dict[str, tuple[Any, ...]]


def gauntlet_outcome(
    config: Config, *, parallel: bool, isolation: str
) -> tuple[Outcome, list[str]]:
    """The three walks' results through ``run_all``, and the walk order."""
    cfg = GauntletConfig(alembic_config=config, isolation=isolation, parallel=parallel)
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(WALKS, raise_on_failure=False)
        order = gauntlet.revisions()
    outcome: Outcome = {}
    for result in report.results:
        error = result.error
        revision = getattr(error, "revision", None)
        step = getattr(error, "step", None)
        problems = tuple(error.problems) if isinstance(error, CheckFailed) else ()
        outcome[result.name] = (result.status, revision, step, problems)
    return outcome, order


def reference_outcome(
    make_config: Callable[[], Config], order: list[str], *, isolation: str
) -> dict[str, Verdict]:
    reference = Reference(make_config, EmbeddedPostgres.shared().url, order, isolation=isolation)
    stairway, no_trace = reference.stairway(trace=True)
    return {
        "stairway": stairway,
        "no_trace": no_trace,
        "downgrade_to_base": reference.downgrade_to_base(),
    }


def _verdict(name: str, status: str, revision: str | None, step: str | None) -> tuple[Any, ...]:
    """Status, revision and step of one walk. A downgrade walk that could not run because
    the upgrade failed is compared by status: which revision broke the upgrade is the
    upgrade check's finding (the reference's ``alembic upgrade heads`` names none)."""
    if name == "downgrade_to_base" and status == "error":
        return (status,)
    return (status, revision, step)


def verdicts(outcome: Outcome) -> dict[str, tuple[Any, ...]]:
    """gauntlet-sync's verdict per walk."""
    return {n: _verdict(n, status, rev, step) for n, (status, rev, step, _) in outcome.items()}


def reference_verdicts(reference: dict[str, Verdict]) -> dict[str, tuple[Any, ...]]:
    """The separate commands' verdict per walk."""
    return {n: _verdict(n, v.status, v.revision, v.step) for n, v in reference.items()}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_hand_written_history_agrees_with_separate_alembic_commands(name: str) -> None:
    isolation = "database" if name in DATABASE_ISOLATION else "schema"
    make_config = fidelity_config(name)
    parallel, order = gauntlet_outcome(make_config(), parallel=True, isolation=isolation)
    serial, _ = gauntlet_outcome(make_config(), parallel=False, isolation=isolation)
    reference = reference_outcome(make_config, order, isolation=isolation)
    assert parallel == serial, "parallel and serial runs disagree"
    assert verdicts(parallel) == reference_verdicts(reference), {
        n: v.message[:500] for n, v in reference.items()
    }
    assert verdicts(parallel) == {n: _verdict(n, *expected) for n, expected in CORPUS[name].items()}


def test_every_hand_written_history_is_in_the_corpus() -> None:
    on_disk = {p.name for p in FIDELITY.iterdir() if (p / "versions").is_dir()}
    assert on_disk == set(CORPUS)


def test_an_extension_made_by_the_upgrade_keeps_run_all_serial(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``CREATE EXTENSION IF NOT EXISTS pgcrypto`` makes a database-wide object: a walk
    beside the forked child would find it made in the child's schema (and its functions
    out of reach). run_all must not fork; the verdicts equal a serial run's (above)."""
    starts: list[object] = []
    real_start = forked.start

    def counting_start(body: Any) -> Any:
        starts.append(body)
        return real_start(body)

    monkeypatch.setattr(forked, "start", counting_start)
    cfg = GauntletConfig(alembic_config=fidelity_config("extension")(), parallel=True)
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    assert starts == []
    assert {r.name: r.status for r in report.results if r.name in WALKS} == {
        w: "passed" for w in WALKS
    }
    # ... while a history that stays in its schema does fork (the check above means it)
    cfg = GauntletConfig(alembic_config=fidelity_config("renames")(), parallel=True)
    with Gauntlet(None, cfg) as gauntlet:
        gauntlet.run_all(raise_on_failure=False)
    if forked.possible():
        assert starts


# -- generated histories -----------------------------------------------------------------
#
# The plans are drawn by hypothesis (a fixed seed: the same histories on every run) and
# judged in PARTS tests of every PARTS-th plan, which pytest-xdist's workers share; each
# part's histories are written and judged by a pool of forked workers, each with a scratch
# schema of its own for autogenerate: two, so that the client's and the server's work share
# the two CPUs, or one under pytest-xdist, whose other worker keeps the second CPU busy.
# A disagreement reports the history's files.

PARTS = 8


@functools.lru_cache(maxsize=1)
def drawn_plans(count: int) -> list[generated.Plan]:
    plans: list[generated.Plan] = []

    @settings(
        max_examples=count * 2,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=[Phase.generate],
    )
    @given(plan=generated.plans())
    def collect(plan: generated.Plan) -> None:
        if len(plans) < count and plan not in plans:
            plans.append(plan)

    collect()
    return plans


_worker: dict[str, Any] = {}


def _judge(plan: generated.Plan) -> str | None:
    """In a worker: write ``plan`` as a history, run both sides; the disagreement, if any."""
    if "conn" not in _worker:
        engine = create_engine(EmbeddedPostgres.shared().url, poolclass=NullPool)
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        _worker.update(conn=conn, scratch=f"differential_scratch_{os.getpid()}")
    directory = Path(tempfile.mkdtemp(prefix="gauntlet-differential-"))
    try:
        ini = generated.write_history(
            plan,
            directory / "project",
            _worker["conn"],
            _worker["scratch"],
            catalog.HISTORIES / "_envs" / "cookbook",
        )

        def make_config() -> Config:
            return Config(str(ini))

        # serial: the pool's two workers keep both CPUs busy already (parallel = serial is
        # held on the hand-written histories above)
        outcome, order = gauntlet_outcome(make_config(), parallel=False, isolation="schema")
        reference = reference_outcome(make_config, order, isolation="schema")
        mine, theirs = verdicts(outcome), reference_verdicts(reference)
        if mine == theirs:
            return None
        files = "\n".join(p.read_text() for p in sorted((ini.parent / "versions").iterdir()))
        return f"gauntlet-sync: {mine}\nreference:     {theirs}\n{files}"
    except Exception as exc:  # noqa: BLE001 - reported with the plan
        return f"{type(exc).__name__}: {exc}\n{plan}"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.parametrize("part", range(PARTS), ids=lambda part: f"part{part + 1}of{PARTS}")
def test_generated_histories_agree_with_separate_alembic_commands(part: int) -> None:
    all_plans = drawn_plans(EXAMPLES)
    assert len(all_plans) == EXAMPLES
    plans = all_plans[part::PARTS]
    context = multiprocessing.get_context("fork" if forked.possible() else "spawn")
    processes = 1 if os.environ.get("PYTEST_XDIST_WORKER") else 2
    try:
        with context.Pool(processes) as pool:
            found = pool.map(_judge, plans, chunksize=4)
    finally:
        with psycopg.connect(EmbeddedPostgres.shared().dsn, autocommit=True) as conn:
            for (name,) in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'differential\\_scratch\\_%'"
            ).fetchall():
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))
    disagreements = [text for text in found if text is not None]
    assert not disagreements, (
        f"{len(disagreements)} of {len(plans)} generated histories (part {part + 1} of "
        f"{PARTS}) disagree; the first:\n"
        + disagreements[0]
    )

"""A changed-only run gives the verdicts of the serial run and of separate alembic commands.

A changed-only run (``changed_since``) walks the changed revisions from a start state: a
one-transaction upgrade of every revision before them, as ``alembic upgrade <rev>`` on a
fresh database. run_all builds that state in a forked child while it upgrades the head
state (``scheduler._StartBeside``); when either upgrade reached outside its schema or
made a database-wide object, both are thrown away and the group runs again serially.

Each case here is a history where that shortcut could show: an ``autocommit_block`` in
the start state, an enum value added in the start state and used by the new revision
(the head state's one transaction refuses it, separate commands do not), an extension
(database-wide), module-level state, a migration's session state, a table created
outside the schema (the two upgrades meet there). Each is committed on ``main`` in a git
repository and one new revision added, as a pull request would. The run with
``parallel=True`` must equal the serial one (every check, with its problems), and its
walks must equal separate alembic commands (``tests/reference.py``: ``alembic upgrade
<start>``, then the new revision's upgrade, downgrade and upgrade).

Named for what it holds, not for one module (behavioural, like test_differential.py).
"""

from __future__ import annotations

import dataclasses
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

from gauntlet_sync import (
    CheckFailed,
    EmbeddedPostgres,
    Gauntlet,
    GauntletConfig,
    forked,
    scheduler,
)
from tests.git_repo import run_git
from tests.histories import catalog
from tests.reference import Reference

pytestmark = pytest.mark.usefixtures("no_leftovers")

FIDELITY = catalog.HISTORIES / "fidelity"
ENV = catalog.HISTORIES / "_envs" / "cookbook"
WALKS = ("stairway", "no_trace", "downgrade_to_base")

REVISION = '''"""{doc}

Revision ID: {rev}
Revises: {down}
"""

from alembic import op

revision = {rev!r}
down_revision = {down!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
{upgrade}


def downgrade() -> None:
{downgrade}
'''

NOTES_UP = '    op.execute("CREATE TABLE scope_notes (id integer PRIMARY KEY)")'
NOTES_DOWN = '    op.execute("DROP TABLE scope_notes")'


@dataclasses.dataclass(frozen=True)
class Case:
    """``history``: a fidelity history (``None``: only the revisions given); ``committed``:
    revisions added on ``main`` on top of it; ``new``: the pull request's revisions (each
    ``(upgrade body, downgrade body)``); ``disturbed``: the two upgrades may meet, so
    run_all must throw the start state away and run again serially."""

    history: str | None
    committed: tuple[tuple[str, str], ...] = ()
    new: tuple[tuple[str, str], ...] = ((NOTES_UP, NOTES_DOWN),)
    isolation: str = "schema"
    disturbed: bool = False
    expect: tuple[tuple[str, str], ...] = ()  # (check, status) beyond "not an error here"
    cleanup: str | None = None  # SQL run on the server afterwards (the reference's escapes)


CASES = {
    # alembic commits in the middle of the start state's one transaction
    "autocommit_block_in_the_start_state": Case(
        "enum_add_value_autocommit",
        new=(
            (
                "    op.execute(\"INSERT INTO tickets (id, state) VALUES (1, 'archived')\")",
                '    op.execute("DELETE FROM tickets WHERE id = 1")',
            ),
        ),
        expect=(("upgrade", "passed"), ("stairway", "passed")),
    ),
    # the head state's one transaction refuses the value it added ("unsafe use of new
    # value"); the start state ends before the use, separate commands commit between
    "enum_value_added_in_the_start_state_used_by_the_new_revision": Case(
        "enum_add_value_autocommit",
        committed=(
            ("    op.execute(\"ALTER TYPE ticket_state ADD VALUE 'reopened'\")", "    pass"),
        ),
        new=(
            (
                "    op.execute(\"INSERT INTO tickets (id, state) VALUES (2, 'reopened')\")",
                '    op.execute("DELETE FROM tickets WHERE id = 2")',
            ),
        ),
        expect=(("upgrade", "failed"), ("stairway", "passed")),
    ),
    "extension_in_the_start_state": Case(
        "extension", disturbed=True, expect=(("stairway", "passed"),)
    ),
    "module_state": Case("module_state", expect=(("stairway", "passed"),)),
    "session_state_left_by_the_start_state": Case(
        "session_left", expect=(("stairway", "passed"),)
    ),
    "a_downgrade_that_leaves_data": Case("data_left", expect=(("upgrade", "passed"),)),
    "another_schema_under_database_isolation": Case("other_schema", isolation="database"),
    # the start state and the head state both create public.scope_escape: they meet
    "a_table_outside_the_schema": Case(
        None,
        committed=(
            (
                '    op.execute("CREATE TABLE public.scope_escape (id integer)")',
                '    op.execute("DROP TABLE public.scope_escape")',
            ),
        ),
        disturbed=True,
        expect=(("isolation", "failed"), ("stairway", "passed")),
        cleanup="DROP TABLE IF EXISTS public.scope_escape",
    ),
}



def _add(versions: Path, down: str | None, number: int, bodies: tuple[str, str]) -> str:
    rev = f"sc{number:06d}"
    text = REVISION.format(
        doc=f"scope case revision {number}", rev=rev, down=down, upgrade=bodies[0],
        downgrade=bodies[1],
    )
    (versions / f"{rev}_case.py").write_text(text)
    return rev


def make_repo(tmp_path: Path, case: Case) -> tuple[Path, str]:
    """The case's history committed on ``main``, its new revisions added (untracked);
    the alembic.ini's path and the last committed revision (the start state's head)."""
    repo = tmp_path / "repo"
    versions = repo / "versions"
    if case.history is not None:
        shutil.copytree(FIDELITY / case.history / "versions", versions)
    else:
        versions.mkdir(parents=True)
    shutil.copytree(ENV, repo / "env")
    ini = repo / "alembic.ini"
    ini.write_text(
        "[alembic]\nscript_location = %(here)s/env\nversion_locations = %(here)s/versions\n"
        "path_separator = os\nsqlalchemy.url = postgresql+psycopg://invalid@localhost/invalid\n"
    )
    head = ScriptDirectory.from_config(Config(str(ini))).get_current_head()
    number = 0
    for bodies in case.committed:
        number += 1
        head = _add(versions, head, number, bodies)
    (repo / ".gitignore").write_text("__pycache__/\n")
    run_git(repo, "init", "-q", "-b", "main")
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "history")
    start = head
    for bodies in case.new:
        number += 1
        head = _add(versions, head, number, bodies)
    assert start is not None
    return ini, start


Outcome = dict[str, tuple[Any, ...]]


def outcome(ini: Path, case: Case, *, parallel: bool) -> tuple[Outcome, list[str], frozenset[str]]:
    """Every default check's (status, revision, step, problems), the walk order and the
    revisions not walked."""
    cfg = GauntletConfig(
        alembic_ini=str(ini), changed_since="main", isolation=case.isolation, parallel=parallel
    )
    with Gauntlet(None, cfg) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
        order = gauntlet.revisions()
        assert gauntlet.scope is not None
        unchanged = gauntlet.scope.unchanged
    found: Outcome = {}
    for result in report.results:
        error = result.error
        problems = tuple(error.problems) if isinstance(error, CheckFailed) else ()
        found[result.name] = (
            result.status,
            getattr(error, "revision", None),
            getattr(error, "step", None),
            problems,
        )
    return found, order, unchanged


def _verdict(name: str, status: str, revision: str | None, step: str | None) -> tuple[Any, ...]:
    if status == "error":  # no verdict on the part (a failed upgrade, start state)
        return (status,)
    return (status, revision, step)


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_changed_only_run_gives_the_serial_runs_and_separate_commands_verdicts(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    ini, start = make_repo(tmp_path, case)
    attempts: list[bool] = []
    real_once: Callable[..., bool] = scheduler._head_group_once

    def watched(*args: Any, early: bool) -> bool:
        attempts.append(early)
        return real_once(*args, early=early)

    monkeypatch.setattr(scheduler, "_head_group_once", watched)
    try:
        parallel, order, unchanged = outcome(ini, case, parallel=True)
        if forked.possible():  # the start state was built beside the head upgrade
            assert attempts == ([True, False] if case.disturbed else [True])
        serial, _, _ = outcome(ini, case, parallel=False)
        assert parallel == serial, "parallel and serial runs disagree"
        for check, status in case.expect:
            assert parallel[check][0] == status, (check, parallel[check])

        def make_config() -> Config:
            return Config(str(ini))

        reference = Reference(
            make_config,
            EmbeddedPostgres.shared().url,
            order,
            isolation=case.isolation,
            irreversible=unchanged,
        )
        stairway, no_trace = reference.stairway(trace=True, start=start)
        expected = {
            "stairway": _verdict("stairway", stairway.status, stairway.revision, stairway.step),
            "no_trace": _verdict("no_trace", no_trace.status, no_trace.revision, no_trace.step),
        }
        _clean(case)  # the reference's start state is never stepped down
        down = reference.downgrade_to_base()
        expected["downgrade_to_base"] = _verdict(
            "downgrade_to_base", down.status, down.revision, down.step
        )
        found = {w: _verdict(w, *parallel[w][:3]) for w in WALKS}
        assert found == expected, {"stairway": stairway.message[:300], "down": down.message[:300]}
    finally:
        _clean(case)


def _clean(case: Case) -> None:
    if case.cleanup:
        with psycopg.connect(EmbeddedPostgres.shared().dsn, autocommit=True) as conn:
            conn.execute(case.cleanup)


def _table(number: int) -> tuple[str, str]:
    return (
        f'    op.execute("CREATE TABLE scope_t{number} (id integer PRIMARY KEY)")',
        f'    op.execute("DROP TABLE scope_t{number}")',
    )


ESCAPE = (
    '    op.execute("CREATE TABLE public.scope_escape (id integer)")',
    '    op.execute("DROP TABLE public.scope_escape")',
)
SHARD_CASES = {
    "tables": (_table(1), _table(2), _table(3), _table(4), _table(5), _table(6)),
    # a revision of shard 2 reaches outside the schema: the split walk is made again
    "a_table_outside_the_schema": (
        _table(1), _table(2), _table(3), _table(4), ESCAPE, _table(6)
    ),
}


@pytest.mark.parametrize("name", sorted(SHARD_CASES))
def test_a_shard_splits_its_walk_between_two_processes_as_a_whole_run_does(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Shard 2 of 2 (no head-state checks, so no head upgrade showed the migrations
    staying in their schema) splits its walk as a whole run does, and checks afterwards
    that neither process reached outside its schema; its verdicts equal the unsplit
    walk's and those of separate commands from ``alembic upgrade <start>``."""
    ini, _ = make_repo(tmp_path, Case(None, committed=SHARD_CASES[name], new=()))
    monkeypatch.setattr(scheduler, "SPLIT_WALK_FROM", 2)  # the histories here are short
    splits: list[bool] = []
    fresh_walks: list[object] = []
    real_split, real_walk_once = scheduler.split_walk, scheduler.walk_once

    def watched_split(*args: Any) -> Any:
        splits.append(bool(args[3:] and args[3]))  # verify
        return real_split(*args)

    def watched_walk_once(*args: Any) -> Any:
        fresh_walks.append(args[1])
        return real_walk_once(*args)

    monkeypatch.setattr(scheduler, "split_walk", watched_split)
    monkeypatch.setattr(scheduler, "walk_once", watched_walk_once)

    def run(parallel: bool) -> tuple[Outcome, list[str], tuple[str, ...]]:
        cfg = GauntletConfig(alembic_ini=str(ini), shard=(2, 2), parallel=parallel)
        with Gauntlet(None, cfg) as gauntlet:
            report = gauntlet.run_all(raise_on_failure=False)
            assert gauntlet.scope is not None
            walked = gauntlet.scope.walked
            order = gauntlet.revisions()
        assert set(report.revision_seconds) == set(walked)
        return (
            {r.name: (r.status, getattr(r.error, "revision", None)) for r in report.results},
            order,
            walked,
        )

    try:
        split, order, walked = run(parallel=True)
        assert len(walked) >= 2
        if forked.possible():
            assert splits == [True]
            assert len(fresh_walks) == (1 if name == "a_table_outside_the_schema" else 0)
        unsplit, _, _ = run(parallel=False)
        assert split == unsplit
        assert {w: split[w][0] for w in ("stairway", "no_trace")} == dict.fromkeys(
            ("stairway", "no_trace"), "passed"
        )
        start = order[order.index(walked[0]) - 1]
        reference = Reference(lambda: Config(str(ini)), EmbeddedPostgres.shared().url, order)
        stairway, no_trace = reference.stairway(trace=True, start=start)
        assert (stairway.status, no_trace.status) == ("passed", "passed")
    finally:
        _clean(Case(None, cleanup="DROP TABLE IF EXISTS public.scope_escape"))

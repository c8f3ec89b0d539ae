"""The walk's per-step session probe (session._restore_session) against the full one.

Behavioural file (not one module's): between two committed walk steps the session is put
back as the walk's first step found it. The per-step probe skips pg_locks (it releases
session advisory locks itself when the walk began without any) and scans pg_class for
temporary tables only once the session has a temporary schema; whatever a step leaves,
the session it hands to the next step must equal the one the full probe
(``session_state``, pg_settings + pg_class + pg_locks) would have restored: equal to
the baseline, by the full probe's own reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Engine

from gauntlet_sync import _compat
from gauntlet_sync import session as session_module

STEP_STATE_SQL = session_module._STEP_STATE_SQL

# What a step may leave on the session, each as the statements that leave it.
LEFTOVERS: dict[str, list[str]] = {
    "nothing": [],
    "set": ["SET work_mem = '7MB'"],
    "set_config": ["SELECT set_config('statement_timeout', '12s', false)"],
    "custom_placeholder": ["SET gauntlet_test.tenant = 'acme'"],
    "read_only": ["SET default_transaction_read_only = on"],
    "reset": ["RESET lock_timeout"],
    "temp_table": ["CREATE TEMP TABLE step_buffer (id integer)"],
    "advisory_lock": ["SELECT pg_advisory_lock(4242)"],
    "advisory_unlock_all": ["SELECT pg_advisory_unlock_all()"],
    "everything": [
        "CREATE TEMP TABLE step_buffer (id integer)",
        "SELECT pg_advisory_lock(4243)",
        "SET work_mem = '9MB'",
        "SET gauntlet_test.other = 'x'",
    ],
}

# How env.py may have set up the session before the walk's first step.
BASELINES: dict[str, list[str]] = {
    "plain": [],
    "env_set": ["SET lock_timeout = '3s'"],
    "env_advisory_lock": ["SELECT pg_advisory_lock(77)"],
    "env_temp_table": ["CREATE TEMP TABLE env_scratch (id integer)"],
    "env_temp_schema_only": ["CREATE TEMP TABLE env_gone (id integer)", "DISCARD TEMP"],
}


def _reference_restore(ctx: MigrationContext, state: dict[str, Any]) -> None:
    """_restore_session as it was before the per-step probe: the full probe each step."""
    conn = ctx.connection
    assert conn is not None
    now = session_module.session_state(conn)
    baseline: dict[str, str] = state["session"]
    if now == baseline:
        return
    for name in sorted(now.keys() | baseline.keys()):
        if name == "#temp":
            conn.execute(text("DISCARD TEMP"))
        elif name == "#advisory":
            conn.execute(text("SELECT pg_advisory_unlock_all()"))
        elif name not in baseline:
            conn.execute(
                text("SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name = :n"),
                {"n": name},
            )
        elif now.get(name) != baseline[name]:
            conn.execute(text("SELECT set_config(:n, :v, false)"), {"n": name, "v": baseline[name]})
    _compat.commit_between_steps(ctx)


_OBSERVE = text(
    """
SELECT (SELECT coalesce(json_agg(json_build_array(name, setting, source) ORDER BY name), '[]')
        FROM pg_settings WHERE source NOT IN ('default', 'override')),
       (SELECT count(*) FROM pg_class WHERE relnamespace = pg_my_temp_schema()),
       (SELECT coalesce(json_agg(objid ORDER BY objid), '[]') FROM pg_locks
        WHERE locktype = 'advisory' AND pid = pg_backend_pid()),
       current_setting('gauntlet_test.tenant', true),
       current_setting('transaction_read_only')
"""
)


def _walk_two_steps(
    engine: Engine, setup: list[str], step: list[str], restore: Callable[..., None]
) -> tuple[Any, ...]:
    """env.py's setup, the walk's baseline, one committed step, the restore; then what
    the next step would find on the session."""
    with engine.connect() as conn:
        for statement in setup:
            conn.execute(text(statement))
        conn.commit()
        ctx = MigrationContext.configure(connection=conn)
        state: dict[str, Any] = {"session": session_module.session_state(conn)}
        for statement in step:  # in the transaction the baseline's read began, as in a walk
            conn.execute(text(statement))
        _compat.commit_between_steps(ctx)  # as the walk commits a step
        restore(ctx, state)
        row = conn.execute(_OBSERVE).one()
        conn.rollback()
        return tuple(row)


@pytest.mark.parametrize("baseline", list(BASELINES))
@pytest.mark.parametrize("leftover", list(LEFTOVERS))
def test_the_step_probe_restores_what_the_full_probe_restored(
    engine: Engine, baseline: str, leftover: str
) -> None:
    """Settings (with their source), temporary tables, advisory locks and the
    transaction's read-only flag the next step finds: equal with either probe."""
    setup, step = BASELINES[baseline], LEFTOVERS[leftover]
    expected = _walk_two_steps(engine, setup, step, _reference_restore)
    assert _walk_two_steps(engine, setup, step, session_module._restore_session) == expected


def test_the_step_probe_reads_neither_pg_locks_nor_pg_class_on_a_plain_session(
    engine: Engine,
) -> None:
    """What makes it cheap: no scan of the lock table, and no scan of pg_class (whose
    size grows with the schema and the walk's dead rows) while the session has no
    temporary schema."""
    for held in (False, True):
        with engine.connect() as conn:
            pid, login = conn.execute(session_module._LOGIN_SQL).one()
            plan = "\n".join(
                str(row[0])
                for row in conn.execute(
                    text("EXPLAIN (ANALYZE, COSTS OFF) " + str(STEP_STATE_SQL[held])),
                    {"login": login, "pid": pid},
                )
            )
        assert "pg_lock_status" not in plan
        # nor every backend's status (pg_stat_activity), once per transaction
        assert "pg_stat_get_activity" not in plan
        # the scan type depends on the server's pg_class statistics (each xdist worker
        # has its own server): whatever it is, it must never run
        on_pg_class = [line for line in plan.splitlines() if " on pg_class" in line]
        assert on_pg_class and all("(never executed)" in line for line in on_pg_class), plan


_WHO = text(
    "SELECT current_setting('role'), session_user::text, current_user::text,"
    " current_setting('work_mem')"
)


@pytest.mark.parametrize(
    ("setup", "step", "expected"),
    [
        ([], ["SET ROLE pg_write_all_data"], ("none", "postgres", "postgres")),
        ([], ["SET SESSION AUTHORIZATION pg_write_all_data"], ("none", "postgres", "postgres")),
        (
            [],
            ["SET SESSION AUTHORIZATION pg_write_all_data", "SET ROLE pg_write_all_data"],
            ("none", "postgres", "postgres"),
        ),
        (
            ["SET ROLE pg_write_all_data"],
            ["RESET ROLE"],
            ("pg_write_all_data", "postgres", "pg_write_all_data"),
        ),
        (
            ["SET ROLE pg_write_all_data"],
            ["SET SESSION AUTHORIZATION pg_read_all_data"],
            ("pg_write_all_data", "postgres", "pg_write_all_data"),
        ),
    ],
)
def test_a_role_a_step_set_is_set_back(
    engine: Engine, setup: list[str], step: list[str], expected: tuple[str, str, str]
) -> None:
    """pg_settings never lists ``role`` or ``session_authorization`` (and RESET ALL keeps
    the role): a migration's SET ROLE would make the next step run as that role, where a
    new alembic command runs as the user that logged in (or as env.py set it)."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT current_user")).scalar() != "postgres":
            pytest.skip("needs the embedded server's superuser")
        for statement in setup:
            conn.execute(text(statement))
        conn.commit()
        ctx = MigrationContext.configure(connection=conn)
        state: dict[str, Any] = {"session": session_module.session_state(conn)}
        for statement in [*step, "SET work_mem = '5MB'"]:
            conn.execute(text(statement))
        _compat.commit_between_steps(ctx)
        session_module._restore_session(ctx, state)
        role, session_user, current_user, work_mem = conn.execute(_WHO).one()
        conn.rollback()
        assert (role, session_user, current_user) == expected
        assert work_mem != "5MB"  # the other settings are still set back after the role
        conn.execute(text("SET SESSION AUTHORIZATION DEFAULT"))
        conn.commit()


@pytest.mark.parametrize("step", [[], ["SET SESSION AUTHORIZATION pg_write_all_data"]])
def test_the_login_the_step_probe_compares_with_is_read_again_on_another_backend(
    engine: Engine, step: list[str]
) -> None:
    """The step probe compares session_user with the login read once per walk (not with
    pg_stat_activity at every step): a login read on another backend (a stale one, here
    a made-up one) is read again on this one, and the session is restored as ever."""
    with engine.connect() as conn:
        if conn.execute(text("SELECT current_user")).scalar() != "postgres":
            pytest.skip("needs the embedded server's superuser")
        ctx = MigrationContext.configure(connection=conn)
        state: dict[str, Any] = {"session": session_module.session_state(conn)}
        state["#backend"], state["#login"] = 0, "someone_else"
        for statement in step:
            conn.execute(text(statement))
        _compat.commit_between_steps(ctx)
        session_module._restore_session(ctx, state)
        assert conn.execute(text("SELECT session_user::text")).scalar() == "postgres"
        backend = conn.execute(text("SELECT pg_backend_pid()")).scalar()
        assert (state["#backend"], state["#login"]) == (backend, "postgres")
        assert session_module._step_state(conn, state) == state["session"]
        conn.rollback()
        conn.execute(text("SET SESSION AUTHORIZATION DEFAULT"))
        conn.commit()

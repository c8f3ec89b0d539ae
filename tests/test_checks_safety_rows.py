"""safety's generated rows (checks/safety_rows.py): each revision's upgrade run once more
on its tables filled with rows, rolled back before the real re-upgrade, so that no other
check's verdict changes (tests/histories/safety_rows: r1000002 adds a NOT NULL column with
no default, which fails only on a table holding rows; ``blocked`` has a CHECK no generated
row meets; r1000003's downgrade makes a column NOT NULL again)."""

from __future__ import annotations

import io
import unittest
import warnings
from typing import Any, ClassVar

import pytest

from gauntlet_sync import (
    Gauntlet,
    GauntletConfig,
    GauntletMixin,
    GauntletWarning,
    Report,
)
from gauntlet_sync.checks import safety_rows
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


def _run(rows: bool | None, **config: Any) -> Report:
    """run_all on the safety_rows history (``rows=None``: safety_rows as by default)."""
    if rows is not None:
        config["safety_rows"] = rows
    cfg = GauntletConfig(alembic_ini=catalog.ini("safety_rows"), **config)
    with Gauntlet(None, cfg) as g:
        return g.run_all(raise_on_failure=False)


def _verdicts(report: Report) -> dict[str, tuple[str, str]]:
    return {r.name: (r.status, r.message) for r in report.results}


@pytest.mark.parametrize("parallel", [True, False])
def test_generated_rows_never_change_another_checks_verdict(parallel: bool) -> None:
    """Rows are on by default (issue 17: "off with a switch"): the default run finds
    r1000002's fails-with-rows, the switched-off one does not, every verdict is the same."""
    assert GauntletConfig().safety_rows is True
    with_rows, without = _run(None, parallel=parallel), _run(False, parallel=parallel)
    assert _verdicts(with_rows) == _verdicts(without)
    statuses = {r.name: r.status for r in with_rows.results}
    assert statuses["stairway"] == statuses["no_trace"] == "passed"  # as on empty tables
    assert statuses["downgrade_to_base"] == statuses["safety"] == "passed"
    # with rows: r1000002 fails where its tables hold rows (a warning by default)
    warned = with_rows.get("safety").warnings
    assert len(warned) == 1 and warned[0].startswith(
        "fails-with-rows: revision r1000002 fails when its tables hold rows (NotNullViolation: "
        'column "region" of relation "accounts" contains null values'
    )
    assert warned[0].endswith(
        "on accounts; " + "make it work on tables that hold rows (a "
        "default for a new NOT NULL column, a backfill before SET NOT "
        "NULL or a new CHECK); a false alarm when an earlier revision "
        "made the data what the generated rows are not (allow it by "
        "marker)"
    )
    assert without.get("safety").warnings == ()
    rows = {r["revision"]: r for r in with_rows.get("safety").per_revision}
    assert rows["r1000002"]["rows"] == {"accounts": 3}
    assert rows["r1000002"]["with_rows"] == "failed"
    assert rows["r1000002"]["rules"] == ["fails-with-rows"]
    blocked = rows["r1000002"]["not_filled"]["blocked"]
    assert blocked.startswith('CheckViolation: new row for relation "blocked" violates check')
    assert "gauntlet_" not in blocked  # no statement naming our schema
    assert rows["r1000003"]["rows"] == {"accounts": 3, "notes": 3}  # notes needs accounts
    assert rows["r1000003"]["with_rows"].endswith(" s")
    assert rows["r1000001"]["with_rows"] == "-"  # it touches no table that existed before
    off = {r["revision"]: r for r in without.get("safety").per_revision}
    assert {r["with_rows"] for r in off.values()} == {"-"} and off["r1000002"]["rows"] == {}


def test_no_probe_runs_when_safety_is_not_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows are safety's: a run_all without it (tests/test_differential.py's walks) or
    with safety=False sends no probe, though safety_rows is on by default."""
    probes: list[object] = []
    real = safety_rows.probe
    monkeypatch.setattr(safety_rows, "probe", lambda *a, **k: probes.append(1) or real(*a, **k))
    walks = ["stairway", "downgrade_to_base", "no_trace"]
    cfg = GauntletConfig(alembic_ini=catalog.ini("safety_rows"), parallel=False)
    for config, checks in ((cfg, walks), (cfg.replace(safety=False), None)):
        with Gauntlet(None, config) as g:
            report = g.run_all(checks, raise_on_failure=False)
        assert report.get("stairway").status == "passed"
    assert probes == []
    with Gauntlet(None, cfg) as g:  # ... and with safety, the probes do run
        g.run_all([*walks, "safety"], raise_on_failure=False)
    assert len(probes) == 2  # r1000002 and r1000003 touch tables made before them


def test_fails_with_rows_can_fail_the_check_or_be_allowed() -> None:
    report = _run(True, safety_fail_on=["fails-with-rows"])
    safety = report.get("safety")
    assert safety.status == "failed" and safety.revision == "r1000002"
    assert [p.split(":")[0] for p in safety.problems] == ["fails-with-rows"]
    allowed = _run(
        True, safety_fail_on=["fails-with-rows"], safety_allow={"r1000002": ["fails-with-rows"]}
    )
    assert allowed.get("safety").status == "passed" and allowed.get("safety").warnings == ()


def test_the_rows_meet_types_constraints_and_foreign_keys() -> None:
    cfg = GauntletConfig(alembic_ini=catalog.ini("safety_rows"))
    with Gauntlet(None, cfg) as g, g.isolated() as db:
        db.upgrade("r1000001")
        conn = db.connection
        filled, unfilled = safety_rows.fill(conn, db.schema, ["notes", "blocked", "gone"])
        assert filled == {"accounts": 3, "notes": 3}  # the parent first, though not named
        assert set(unfilled) == {"blocked", "gone"} and unfilled["gone"] == "no longer there"
        accounts = conn.exec_driver_sql(
            "SELECT id, email, plan::text, created IS NOT NULL, score, parent_id, uid::text"
            " FROM accounts ORDER BY id"
        ).all()
        # a self-referencing key takes NULL where it may (its table is being filled)
        assert [tuple(a) for a in accounts] == [
            (1, "1", "free", True, 1, None, "00000000-0000-0000-0000-000000000001"),
            (2, "2", "pro", True, 2, None, "00000000-0000-0000-0000-000000000002"),
            (3, "3", "free", True, 3, None, "00000000-0000-0000-0000-000000000003"),
        ]
        notes = conn.exec_driver_sql("SELECT id, account_id, body FROM notes ORDER BY id").all()
        assert [tuple(n) for n in notes] == [(1, 1, "1"), (2, 2, "2"), (3, 3, "3")]
        # serial columns were given their values: the sequence did not move
        assert conn.exec_driver_sql("SELECT nextval('accounts_id_seq')").scalar() == 1
        conn.rollback()
        # a table that holds rows keeps them, and its children take its keys
        db.execute("INSERT INTO accounts (id, email, plan) VALUES (40, 'a@b', 'pro')")
        filled, _ = safety_rows.fill(conn, db.schema, ["notes"])
        assert filled == {"notes": 3}
        ids = conn.exec_driver_sql("SELECT DISTINCT account_id FROM notes").scalars().all()
        assert ids == [40]
        assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar() == 1
        conn.rollback()


def test_a_nullable_key_reads_its_parent_without_filling_it() -> None:
    """Only a NOT NULL foreign key makes its parent part of the fill; a nullable one
    still takes the parent's keys when the parent holds rows (NULL when it has none)."""
    cfg = GauntletConfig(alembic_ini=catalog.ini("safety_rows"))
    with Gauntlet(None, cfg) as g, g.isolated() as db:
        db.upgrade("r1000001")
        conn = db.connection
        db.execute("CREATE TABLE tags (id int PRIMARY KEY, account_id int REFERENCES accounts)")
        conn.commit()
        filled, _ = safety_rows.fill(conn, db.schema, ["tags"])
        assert filled == {"tags": 3}  # accounts is not filled for it
        keys = conn.exec_driver_sql("SELECT account_id FROM tags").scalars().all()
        assert keys == [None, None, None]
        conn.rollback()
        db.execute("INSERT INTO accounts (id, email, plan) VALUES (7, 'a@b', 'pro')")
        filled, _ = safety_rows.fill(conn, db.schema, ["tags"])
        assert filled == {"tags": 3}
        keys = conn.exec_driver_sql("SELECT account_id FROM tags").scalars().all()
        assert keys == [7, 7, 7]
        assert conn.exec_driver_sql("SELECT count(*) FROM accounts").scalar() == 1
        conn.rollback()


def test_a_revision_using_autocommit_block_is_not_probed() -> None:
    """Its statements would commit the rows: the probe stops before the commit."""
    cfg = GauntletConfig(alembic_ini=catalog.ini("safety_safe"), safety_rows=True)
    with Gauntlet(None, cfg) as g:
        report = g.run_all(["stairway", "no_trace", "safety"], raise_on_failure=False)
    rows = {r["revision"]: r for r in report.get("safety").per_revision}
    assert rows["t1000003"]["with_rows"] == "not probed: it uses autocommit_block()"
    assert rows["t1000002"]["rows"] == {"orders": 3} and rows["t1000002"]["with_rows"].endswith(
        " s"
    )
    assert report.get("safety").warnings == ()


def test_the_mixin_switches_generated_rows_off() -> None:
    """``gauntlet_safety_rows = False`` (or ``safety_rows`` in gauntlet_config_overrides)
    switches them off for the class; by default its safety test sees r1000002's
    fails-with-rows warning."""

    class Default(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(alembic_ini=catalog.ini("safety_rows"))
        gauntlet_share_run = False

    class Off(Default):
        gauntlet_safety_rows = False

    class Overridden(Default):
        gauntlet_config_overrides: ClassVar[dict[str, Any]] = {"safety_rows": False}

    assert Default.gauntlet_effective_config().safety_rows is True
    assert Off.gauntlet_effective_config().safety_rows is False
    assert Overridden.gauntlet_effective_config().safety_rows is False

    def warned(case: type[unittest.TestCase]) -> list[str]:
        suite = unittest.TestSuite([case("test_migrations_are_safe")])
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            result = unittest.TextTestRunner(stream=io.StringIO()).run(suite)
        assert result.wasSuccessful()
        return [str(w.message) for w in caught if issubclass(w.category, GauntletWarning)]

    found = warned(Default)
    assert len(found) == 1 and found[0].startswith("safety: fails-with-rows: revision r1000002")
    assert warned(Off) == []

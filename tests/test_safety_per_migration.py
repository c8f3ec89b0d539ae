"""safety under ``transaction_per_migration=True`` (JupyterHub's env.py shape) and under
``transactional_ddl=False`` (where alembic does the same whatever transaction_per_migration
says): alembic commits each revision in a transaction of its own, so the walk's
end-of-step work (the checks' ``after``, the step's lock read) must run inside it, before
alembic's commit (from ``on_version_apply``). Otherwise the step's locks are gone when
safety reads them: an index built without CONCURRENTLY went unnoticed and the other
findings lost their lock mode. The verdict must be the default env's (tests/test_safety.py)
on the same revisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gauntlet_sync import Gauntlet, GauntletConfig, MigrationSafetyError, _compat
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

#: the env.py shapes (tests/histories/_envs/) under which alembic commits each revision
ENVS = ["per_migration", "no_transactional_ddl"]


def _per_migration_ini(tmp_path: Path, env: str) -> str:
    """safety_unsafe's revisions run by the ``env`` env.py."""
    histories = Path(catalog.ini("per_migration")).parent.parent
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        f"script_location = {histories / '_envs' / env}\n"
        f"version_locations = {histories / 'safety_unsafe' / 'versions'}\n"
        "path_separator = os\n"
        "sqlalchemy.url = postgresql+psycopg://invalid@localhost/invalid\n"
    )
    return str(ini)


def _failure(ini: str) -> MigrationSafetyError:
    with (
        Gauntlet(None, GauntletConfig(alembic_ini=ini)) as g,
        pytest.raises(MigrationSafetyError) as caught,
    ):
        g.check_safety()
    return caught.value


@pytest.mark.parametrize("env", ENVS)
def test_per_migration_transactions_give_the_default_envs_findings(
    tmp_path: Path, env: str
) -> None:
    error = _failure(_per_migration_ini(tmp_path, env))
    index = [p for p in error.problems if p.startswith("index-without-concurrently")]
    assert len(index) == 1
    assert "revision s1000004 builds index ix_orders_status in its transaction" in index[0]
    assert "on orders under SHARE " in index[0]
    expected = _failure(catalog.ini("safety_unsafe"))
    assert error.problems == expected.problems
    assert error.warnings == expected.warnings


@pytest.mark.parametrize("history", ENVS)
def test_no_transaction_only_the_driver_knows_of_is_left_between_steps(history: str) -> None:
    """Every check that reads at a step's end (stairway, no_trace, safety, serial: in this
    process) reads inside the revision's own transaction, so the walk's commit of a
    transaction only the driver knows of (``_compat.commit_between_steps``, kept as a
    safety net for env.py shapes not foreseen) is never needed on these shapes. Before
    ``on_version_apply`` took the step end (44df780 for transaction_per_migration, then
    ``per_migration``'s rule for transactional_ddl=False) it committed once per step here."""
    before = _compat.COUNTS["driver_only_commits"]
    with Gauntlet(None, GauntletConfig(alembic_ini=catalog.ini(history))) as gauntlet:
        report = gauntlet.run_all(["stairway", "no_trace", "safety"], raise_on_failure=False)
    assert [r.status for r in report.results] == ["passed"] * 3, str(report)
    assert _compat.COUNTS["driver_only_commits"] == before

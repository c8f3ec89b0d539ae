"""safety under ``transaction_per_migration=True`` (JupyterHub's env.py shape): alembic
commits each revision in a transaction of its own, so the walk's end-of-step work (the
checks' ``after``, the step's lock read) must run inside it, before alembic's commit
(from ``on_version_apply``). Otherwise the step's locks are gone when safety reads them:
an index built without CONCURRENTLY went unnoticed and the other findings lost their lock
mode. The verdict must be the default env's (tests/test_safety.py) on the same revisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from gauntlet_sync import Gauntlet, GauntletConfig, MigrationSafetyError
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


def _per_migration_ini(tmp_path: Path) -> str:
    """safety_unsafe's revisions run by the per_migration env.py."""
    histories = Path(catalog.ini("per_migration")).parent.parent
    ini = tmp_path / "alembic.ini"
    ini.write_text(
        "[alembic]\n"
        f"script_location = {histories / '_envs' / 'per_migration'}\n"
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


def test_per_migration_transactions_give_the_default_envs_findings(tmp_path: Path) -> None:
    error = _failure(_per_migration_ini(tmp_path))
    index = [p for p in error.problems if p.startswith("index-without-concurrently")]
    assert len(index) == 1
    assert "revision s1000004 builds index ix_orders_status in its transaction" in index[0]
    assert "on orders under SHARE " in index[0]
    expected = _failure(catalog.ini("safety_unsafe"))
    assert error.problems == expected.problems
    assert error.warnings == expected.warnings

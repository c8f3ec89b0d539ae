"""A Python attribute the user's code set on the alembic Config reaches env.py.

OpenStack's neutron and octavia (benchmarks/real: octavia) hand their settings to env.py as
``config.octavia_config = CONF``, a plain attribute of the ``Config`` object, and env.py
exits (``sys.exit(1)``) without it. gauntlet-sync runs on a private copy of the Config given
as ``alembic_config=`` (load_alembic_config), which copied the ini file, the main options and
``attributes`` but not such attributes: every command's env.py exited. History:
tests/histories/config_attribute (its env.py reads the version table from the attribute;
its revisions are in revisions/, out of the catalog-wide tests, which run a history from its
ini alone).
"""

from __future__ import annotations

import pytest
from alembic.config import Config
from sqlalchemy import inspect

from gauntlet_sync import Gauntlet, GauntletConfig
from gauntlet_sync.config import load_alembic_config
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

HISTORY = "config_attribute"


def _user_config() -> Config:
    config = Config(catalog.ini(HISTORY))
    config.project_config = {"version_table": "project_alembic"}  # type: ignore[attr-defined]
    return config


def test_the_private_copy_keeps_the_configs_own_attributes() -> None:
    source = _user_config()
    copy = load_alembic_config(GauntletConfig(alembic_ini=None, alembic_config=source))
    assert copy is not source and copy.attributes is not source.attributes
    assert copy.project_config is source.project_config  # type: ignore[attr-defined]


def test_env_py_reading_a_config_attribute_runs() -> None:
    config = GauntletConfig(alembic_ini=None, alembic_config=_user_config())
    with Gauntlet(None, config) as gauntlet:
        report = gauntlet.run_all(["upgrade", "stairway"], raise_on_failure=False)
        with gauntlet.isolated() as db:
            db.upgrade()
            tables = set(inspect(db.connection).get_table_names(schema=db.schema))
    statuses = {r.name: r.status for r in report.results}
    assert statuses == {"upgrade": "passed", "stairway": "passed"}, report
    assert tables == {"users", "project_alembic"}  # env.py read the attribute

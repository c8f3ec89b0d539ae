"""A project's migration suite with ``gauntlet_shards = 3``, for parallel runners.

``tests/test_testcase_shards.py`` runs it under pytest-xdist and Django's parallel runner
(in a directory of its own: the runs of ``tests/suites`` by discovery do not meet it).
``GAUNTLET_SHARDED_HISTORY`` picks the history: a name from tests/histories (default
``clean``) or ``fidelity/<name>``. Each shard test writes ``<shard> <pid>`` to the file
named by ``GAUNTLET_SHARD_LOG`` (if set), so the caller sees which process ran it.
"""

from __future__ import annotations

import os
import unittest
from pathlib import Path

from alembic.config import Config

from gauntlet_sync import GauntletConfig, Report, scope
from gauntlet_sync.testcase import GauntletMixin

# The 6-revision keep_going history cut 2/2/2, a failure in each shard, as the callers
# expect: the cut's costs are calibrated on 1,200 revisions and would give shard 1 fewer
# (tests/test_testcase_shards.py sets the same in its own process).
scope.START_COST = scope.HEAD_COST = 0.05

HISTORIES = Path(__file__).resolve().parents[2] / "histories"
HISTORY = os.environ.get("GAUNTLET_SHARDED_HISTORY", "clean")

if HISTORY.startswith("fidelity/"):
    _alembic = Config(
        str(HISTORIES / "fidelity" / "alembic.ini"),
        config_args={"history": HISTORY.split("/", 1)[1]},
    )
    CONFIG = GauntletConfig(alembic_config=_alembic)
else:
    CONFIG = GauntletConfig(alembic_ini=str(HISTORIES / HISTORY / "alembic.ini"))


class ShardedMigrationTests(GauntletMixin, unittest.TestCase):
    """Every check; the walk in three shards."""

    gauntlet_config = CONFIG
    gauntlet_shards = 3
    gauntlet_skip_checks = (
        "models_match",
        "check_constraints",
        "enums",
        "naming",
        "downgrade_to_base",
    )

    def gauntlet_shard(self, index: int, total: int) -> Report:
        log = os.environ.get("GAUNTLET_SHARD_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as f:
                f.write(f"{index} {os.getpid()}\n")
        return super().gauntlet_shard(index, total)

"""With a DSN given, the embedded server's modules (and testing.postgresql) are never
imported: ``EmbeddedPostgres`` is loaded on first use.

Named for what it holds, not for one module: what ``import gauntlet_sync`` loads, across the
package."""

from __future__ import annotations

import subprocess
import sys

from gauntlet_sync import EmbeddedPostgres
from tests.histories import catalog
from tests.reliability import ROOT, child_env

PROBE = """
import sys
import gauntlet_sync
from gauntlet_sync import Gauntlet, GauntletConfig, cli, testcase, utils

with Gauntlet(sys.argv[1], GauntletConfig(alembic_ini=sys.argv[2])) as gauntlet:
    gauntlet.check_upgrade()
server_modules = ("testing.postgresql", "gauntlet_sync.server")
print(sorted(m for m in sys.modules if m.startswith(server_modules)))
print(gauntlet_sync.EmbeddedPostgres.__module__)
"""


def test_a_run_with_a_dsn_never_imports_the_embedded_server() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, EmbeddedPostgres.shared().dsn, catalog.ini("clean")],
        env=child_env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    loaded, module = done.stdout.splitlines()[-2:]
    assert loaded == "[]"
    assert module.startswith("gauntlet_sync.server")  # and on first use it is there

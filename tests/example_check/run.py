"""Run in a child process against a copy of gauntlet_sync with walk_coverage registered:
prints one JSON line with what the library derived from the registration."""

from __future__ import annotations

import json
import os
import sys
import unittest
from pathlib import Path

HISTORY = Path(sys.argv[1])


def main() -> None:
    import gauntlet_sync
    from gauntlet_sync import CHECK_NAMES, Gauntlet, GauntletConfig, GauntletMixin, scheduler
    from gauntlet_sync.cli import main as cli_main
    from gauntlet_sync.testcase import TEST_METHODS

    out: dict[str, object] = {"package": gauntlet_sync.__file__, "names": list(CHECK_NAMES)}
    out["test_method"] = TEST_METHODS.get("walk_coverage")
    out["mixin_has_method"] = callable(getattr(GauntletMixin, "test_walk_coverage", None))
    config = GauntletConfig(alembic_ini=str(HISTORY / "alembic.ini"))
    scheduler.SPLIT_WALK_FROM = 2  # split the shared walk even on this short history
    for parallel in (True, False):
        dsn = os.environ["GAUNTLET_DSN"]
        with Gauntlet(dsn, config.replace(parallel=parallel)) as gauntlet:
            report = gauntlet.run_all(raise_on_failure=False)
            out[f"run_all_{parallel}"] = {r.name: r.status for r in report.results}
            gauntlet.check_stairway()
            try:
                scheduler.run_alone(gauntlet._context(), "walk_coverage")
                out["alone"] = "passed"
            except Exception as exc:  # noqa: BLE001 - reported
                out["alone"] = repr(exc)

    class Suite(GauntletMixin, unittest.TestCase):
        gauntlet_config = config

    result = unittest.TextTestRunner(stream=open("/dev/null", "w")).run(
        unittest.defaultTestLoader.loadTestsFromTestCase(Suite)
    )
    out["mixin"] = {
        "run": result.testsRun,
        "failures": len(result.failures),
        "errors": len(result.errors),
    }
    sys.stdout.flush()
    code = cli_main(["-c", str(HISTORY / "alembic.ini"), "--only", "walk_coverage", "-q"])
    out["cli_only"] = code
    print("\n" + json.dumps(out))


if __name__ == "__main__":
    main()

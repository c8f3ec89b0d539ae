"""The check registry: every list of checks derives from it, and adding a check is one
module plus its registration line (shown on a copy of the library)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from gauntlet_sync import CHECK_NAMES, Gauntlet, GauntletMixin, checks, errors
from gauntlet_sync.checks import CHECKS, DEFAULT_CHECKS, TEST_METHODS, HeadCheck, WalkCheck
from gauntlet_sync.cli import build_parser
from tests.histories import catalog
from tests.reliability import ROOT, child_env

EXAMPLE = Path(__file__).resolve().parent / "example_check"


def test_every_list_of_checks_derives_from_the_registry() -> None:
    assert CHECK_NAMES == tuple(CHECKS)
    # every built-in check is on by default but offline (opt-in: extra_checks, --check)
    assert [n for n, c in CHECKS.items() if not c.default] == ["offline"]
    assert DEFAULT_CHECKS == tuple(n for n in CHECK_NAMES if n != "offline")
    assert catalog.CHECKS == DEFAULT_CHECKS  # the histories' expectations: run_all's default
    for name, check in CHECKS.items():
        assert check.error.check == name and issubclass(check.error, errors.CheckFailed)
        assert TEST_METHODS[name] == check.test_method
        assert callable(getattr(GauntletMixin, check.test_method))
        assert callable(getattr(Gauntlet, f"check_{name}"))  # the documented one-liner
    assert f"checks: {', '.join(CHECK_NAMES)}." in (build_parser().epilog or "")


def test_the_groups_come_from_what_each_check_needs() -> None:
    walk = [n for n, c in CHECKS.items() if isinstance(c, WalkCheck)]
    head = {n: c.stage for n, c in CHECKS.items() if isinstance(c, HeadCheck)}
    assert walk == ["stairway", "no_trace", "safety"]
    assert head == {
        "upgrade": "prepare",
        "downgrade_to_base": "consume",
        "models_match": "read",
        "check_constraints": "read",
        "enums": "read",
        "naming": "read",
        "isolation": "guard",
    }
    assert CHECKS["single_head"].needs == "history"
    assert CHECKS["offline"].needs == "history"


def _library_with_the_example(root: Path) -> Path:
    """A copy of gauntlet_sync with tests/example_check/walk_coverage.py added as a check:
    the module copied in, and its import and line in checks/__init__.py's registration."""
    package = root / "gauntlet_sync"
    shutil.copytree(Path(checks.__file__).parents[1], package)
    shutil.copy(EXAMPLE / "walk_coverage.py", package / "checks" / "walk_coverage.py")
    registry = package / "checks" / "__init__.py"
    text = registry.read_text()
    text = text.replace("    upgrade,\n)", "    upgrade,\n    walk_coverage,\n)", 1)
    text = text.replace("    isolation,\n)", "    isolation,\n    walk_coverage,\n)", 1)
    assert text.count("walk_coverage") == 2
    registry.write_text(text)
    return root


def test_a_check_added_as_one_module_plus_its_registration(tmp_path: Path) -> None:
    from gauntlet_sync import EmbeddedPostgres

    library = _library_with_the_example(tmp_path / "lib")
    env = child_env(GAUNTLET_DSN=EmbeddedPostgres.shared().dsn)
    env["PYTHONPATH"] = f"{library}:{env['PYTHONPATH']}"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE / "run.py"), str(Path(catalog.ini("clean")).parent)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["package"].startswith(str(library))
    assert out["names"] == [*CHECK_NAMES, "walk_coverage"]
    assert out["test_method"] == "test_walk_coverage" and out["mixin_has_method"]
    for parallel in ("True", "False"):  # forked with the walk split, and serial
        assert out[f"run_all_{parallel}"]["walk_coverage"] == "passed"
        assert out[f"run_all_{parallel}"]["stairway"] == "passed"
    assert out["alone"] == "passed"
    assert out["mixin"] == {"run": len(CHECK_NAMES) + 1, "failures": 0, "errors": 0}
    assert out["cli_only"] == 0

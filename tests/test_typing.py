"""``mypy --strict`` passes on a user's script that touches every public entry point
(tests/typing/user_script.py): the public API is typed for users (issue 16, point 4).

The package is checked as a user's mypy sees an installed one: its own modules are
followed silently (errors inside them are the project's ``mypy gauntlet_sync``'s business,
which .ci/run runs), the script's own lines strictly.

Named for what it holds, not for one module: the typed public API as a user's mypy sees it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gauntlet_sync.server.cache import cache_root
from tests.reliability import ROOT

SCRIPT = Path(__file__).resolve().parent / "typing" / "user_script.py"

MYPY_CONFIG = """\
[mypy]
strict = True
warn_unused_ignores = True
cache_dir = {cache}

[mypy-gauntlet_sync.*]
follow_imports = silent

[mypy-testing.*]
ignore_missing_imports = True
"""


def mypy_cache() -> Path:
    """Where mypy keeps what it learnt of the packages the script imports (SQLAlchemy,
    alembic, psycopg: ~12 CPU seconds to analyse cold, under 1 s from the cache): the
    gauntlet-sync's cache dir (beside its initdb cache), so that another clone on the same
    machine finds it; a fresh CI machine pays the cold analysis once. The checkout's
    (gitignored) when that cache is turned off. mypy's cache hides no error: each module's
    entry is used only while its source hash, mypy's version and the options are the same,
    and a changed module has its dependents checked again."""
    import mypy.version

    root = cache_root()
    if root is None:
        return ROOT / ".mypy_cache" / "user_script"
    python = "{}.{}".format(*sys.version_info[:2])
    return root / f"mypy-user-script-{mypy.version.__version__}-py{python}"


def test_a_users_script_passes_mypy_strict(tmp_path: Path) -> None:
    config = tmp_path / "mypy.ini"
    config.write_text(MYPY_CONFIG.format(cache=mypy_cache()))
    checked = subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(config), str(SCRIPT)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Success: no issues found in 1 source file" in checked.stdout


def test_the_script_uses_every_exported_name() -> None:
    import gauntlet_sync

    text = SCRIPT.read_text()
    unused = [n for n in gauntlet_sync.__all__ if n not in text and not n.endswith("Error")]
    assert unused == []

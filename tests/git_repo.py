"""A throwaway git repository for the changed-only tests (``changed_since`` reads git)."""

from __future__ import annotations

import subprocess
from pathlib import Path


def run_git(repo: Path, *args: str) -> None:
    """``git *args`` in ``repo`` with a throwaway identity (CI machines may have none)."""
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )

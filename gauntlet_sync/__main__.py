"""``python -m gauntlet_sync``: the same command line as the ``gauntlet-sync`` script."""

from __future__ import annotations

from .cli import run

if __name__ == "__main__":
    raise SystemExit(run())

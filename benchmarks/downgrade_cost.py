#!/usr/bin/env python3
"""CPU seconds of ``downgrade_to_base`` alone: the head upgrade, then the check, in-process.

    python benchmarks/downgrade_cost.py [--n 1200] [--project DIR] [--profile FILE]

Shard 1's head path ends with it (issue 18): every revision stepped down and committed one
at a time, each step followed by the walk's session probe (``session._restore_session``).
Prints wall seconds, this process's CPU seconds and the embedded server's (the postmaster,
its exited backends and its live ones, from ``/proc``) for the upgrade and the check.
Compare libraries by putting one first on ``PYTHONPATH`` (``git archive REV gauntlet_sync |
tar -x -C DIR``), one process after the other. ``--profile`` writes cProfile's figures of
the check. Set ``PYTHONDONTWRITEBYTECODE=1`` for a CI checkout's compiling of revision files.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_history  # noqa: E402


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def server_cpu(postmaster: int) -> float:
    """The postmaster's CPU seconds with its waited-for children's and its live ones'."""

    def fields(pid: int) -> list[str]:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()

    ticks = sum(int(f) for f in fields(postmaster)[11:15])
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = fields(int(entry))
            except OSError:
                continue
            if int(stat[1]) == postmaster:
                ticks += sum(int(f) for f in stat[11:13])
    return ticks / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1200)
    parser.add_argument("--project", help="a make_history.py history (made if missing)")
    parser.add_argument("--profile", help="write cProfile's figures of the check here")
    args = parser.parse_args()
    project = Path(args.project or f"/tmp/gs-downgrade-cost-{args.n}")
    if not (project / "alembic.ini").exists():
        make_history.generate(project, args.n)

    from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig
    from gauntlet_sync.checks import CHECKS

    config = GauntletConfig(alembic_ini=str(project / "alembic.ini"), safety_fail_on=())
    with Gauntlet(None, config) as gauntlet:
        ctx = gauntlet._context()
        server = EmbeddedPostgres.shared().pid
        assert server is not None
        with ctx.session() as session:
            for name, body in (
                ("upgrade", lambda: ctx.upgrade(session)),
                ("downgrade_to_base", lambda: CHECKS["downgrade_to_base"].run(ctx, session)),
            ):
                profile = cProfile.Profile() if args.profile and name != "upgrade" else None
                wall, cpu, srv = time.perf_counter(), own_cpu(), server_cpu(server)
                if profile is not None:
                    profile.enable()
                body()
                if profile is not None:
                    profile.disable()
                    profile.dump_stats(args.profile)
                print(
                    f"{name}: wall {time.perf_counter() - wall:.2f} s, CPU {own_cpu() - cpu:.2f}"
                    f" s, server {server_cpu(server) - srv:.2f} s"
                )


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Issue 18, "linear cost": which statements the server spends run_all's time on.

    python benchmarks/statements.py N [--checks a,b] [--top 15] [--postgres-args "-c ..."]
                                      [--vacuum-every SECONDS] [--work /tmp/gauntlet-growth]

Runs ``run_all()`` (as ``growth.py``: ``child.py``'s config, every default check) on
make_history.py's N-revision history, in this process, on an embedded server started with
``pg_stat_statements`` preloaded, then prints the statements by server time (execution +
planning; wall time inside the server, so it includes waiting for a CPU on a loaded
machine) with their calls, and the CPU seconds of the run: this process, its forked walk
children, the server (postmaster utime+stime+cutime+cstime: backends and autovacuum
workers included). ``--postgres-args`` adds server settings (e.g. autovacuum's) to try
them; ``--vacuum-every`` VACUUMs the catalogs the walk bloats from a side process
during the run (its backend's CPU counts in the server's). Comparing two sizes shows
which statements grow faster than the history: a statement run once per step whose cost
grows with the schema grows as N x schema.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_history  # noqa: E402

TOP = """
SELECT calls, round((total_exec_time + total_plan_time)::numeric) AS ms,
       round(((total_exec_time + total_plan_time) / nullif(calls, 0))::numeric, 3) AS per_call,
       regexp_replace(left(query, 100), '\\s+', ' ', 'g')
FROM pg_stat_statements ORDER BY total_exec_time + total_plan_time DESC LIMIT %s
"""


CATALOGS = (
    "pg_class",
    "pg_attribute",
    "pg_type",
    "pg_depend",
    "pg_constraint",
    "pg_index",
    "pg_attrdef",
    "pg_enum",
)
VACUUM = """
import time, psycopg
with psycopg.connect({dsn!r}, autocommit=True) as conn:
    while True:
        time.sleep({period})
        for catalog in {catalogs!r}:
            conn.execute("VACUUM " + catalog)
"""


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", type=int)
    parser.add_argument("--checks", default=None)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--postgres-args", default="")
    parser.add_argument("--vacuum-every", type=float, default=0.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gauntlet-growth"))
    args = parser.parse_args()
    project = args.work / f"history_{args.n}"
    make_history.generate(project, args.n)

    import psycopg

    import gauntlet_sync.server.postgres as postgres_module
    from gauntlet_sync import Gauntlet, GauntletConfig
    from gauntlet_sync.server import EmbeddedPostgres

    postgres_module._POSTGRES_ARGS += (
        " -c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all"
        " -c pg_stat_statements.track_planning=on -c pg_stat_statements.max=10000 "
        + args.postgres_args
    )
    server = EmbeddedPostgres.shared()
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        conn.execute("SELECT pg_stat_statements_reset()")
    checks = args.checks.split(",") if args.checks else None
    cfg = GauntletConfig(
        alembic_ini=str(project / "alembic.ini"),
        metadata=make_history.load_metadata(project),
        safety_fail_on=(),
        parallel=checks is None,
    )
    assert server.pid is not None
    pg0, py0, kids0 = (
        _server_cpu(server.pid),
        _cpu(resource.RUSAGE_SELF),
        _cpu(resource.RUSAGE_CHILDREN),
    )
    vacuum = None
    if args.vacuum_every:
        code = VACUUM.format(dsn=server.dsn, period=args.vacuum_every, catalogs=CATALOGS)
        vacuum = subprocess.Popen([sys.executable, "-c", code])
    started = time.perf_counter()
    try:
        with Gauntlet(None, cfg) as gauntlet:
            report = gauntlet.run_all(checks, raise_on_failure=False)
    finally:
        if vacuum is not None:
            vacuum.terminate()
            vacuum.wait()
    wall = time.perf_counter() - started
    time.sleep(0.3)  # the run's backends exit and are reaped by the postmaster
    bad = {r.name: r.status for r in report.results if r.status != "passed"}
    print(
        f"N={args.n}: run_all {wall:.1f} s wall, load {os.getloadavg()[0]:.1f}, not passed: {bad};"
        f" CPU s: python {_cpu(resource.RUSAGE_SELF) - py0:.1f}, forked children"
        f" {_cpu(resource.RUSAGE_CHILDREN) - kids0:.1f}, server"
        f" {_server_cpu(server.pid) - pg0:.1f}"
    )
    with psycopg.connect(server.dsn, autocommit=True) as conn:
        total = conn.execute(
            "SELECT sum(calls), round(sum(total_exec_time + total_plan_time)::numeric)"
            " FROM pg_stat_statements"
        ).fetchone()
        print(f"all statements: {total[0] if total else 0} calls, {total[1] if total else 0} ms")
        print("calls | ms | ms per call | statement")
        for row in conn.execute(TOP, (args.top,)):
            print(" | ".join(str(v) for v in row))


if __name__ == "__main__":
    main()

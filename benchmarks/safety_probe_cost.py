#!/usr/bin/env python3
"""What safety's generated-rows probe costs, and where (issue 17: cheaper probes).

    python benchmarks/safety_probe_cost.py [--n 150] [--rounds 3] [--profile OUT]

In one process, on the embedded server: ``run_all(["stairway", "no_trace", "safety"],
parallel=False)`` on the benchmark history (``make_history.py``), with generated rows
(``rows``) and without (``no_rows``), alternated round by round (the machine is shared:
alternating spreads its load over both). Per run: this process's CPU seconds and the
server's (the postmaster's own and its reaped backends', from ``/proc``; the run's
connections are closed before it is read), the statements sent in all and inside the
probes (SQLAlchemy's ``before_cursor_execute``; snapshots sent on the raw psycopg cursor
are not counted), the seconds spent in the probes and, of those, in the fill.

``--profile OUT`` writes a cProfile of the probes alone (one extra ``rows`` run).
Prints one JSON line: every run, and the minima and medians per variant.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_history  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from gauntlet_sync import EmbeddedPostgres, Gauntlet, GauntletConfig  # noqa: E402
from gauntlet_sync.checks import safety_rows  # noqa: E402

WALK = ["stairway", "no_trace", "safety"]
TICK = os.sysconf("SC_CLK_TCK")


def _server_cpu(pid: int) -> float:
    """The postmaster's CPU seconds, its exited (reaped) backends' included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the ")": state=0 ... utime=11 stime=12 cutime=13 cstime=14
    return sum(int(fields[i]) for i in (11, 12, 13, 14)) / TICK


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class _Counter:
    """Statements sent, in all and inside probes / fills; seconds inside probes / fills."""

    def __init__(self) -> None:
        self.reset()
        self.inside = ""
        self.profile: cProfile.Profile | None = None

    def reset(self) -> None:
        self.statements = 0
        self.probe_statements = 0
        self.fill_statements = 0
        self.probes = 0
        self.probe_s = 0.0
        self.fill_s = 0.0

    def on_statement(self, *args: Any, **kwargs: Any) -> None:
        self.statements += 1
        if self.inside:
            self.probe_statements += 1
        if self.inside == "fill":
            self.fill_statements += 1


COUNT = _Counter()


def _instrument() -> None:
    event.listen(Engine, "before_cursor_execute", COUNT.on_statement)
    probe, fill = safety_rows.probe, safety_rows.fill

    def timed_probe(*args: Any, **kwargs: Any) -> Any:
        COUNT.probes += 1
        COUNT.inside = "probe"
        started = time.perf_counter()
        if COUNT.profile is not None:
            COUNT.profile.enable()
        try:
            return probe(*args, **kwargs)
        finally:
            if COUNT.profile is not None:
                COUNT.profile.disable()
            COUNT.probe_s += time.perf_counter() - started
            COUNT.inside = ""

    def timed_fill(*args: Any, **kwargs: Any) -> Any:
        COUNT.inside = "fill"
        started = time.perf_counter()
        try:
            return fill(*args, **kwargs)
        finally:
            COUNT.fill_s += time.perf_counter() - started
            COUNT.inside = "probe"

    safety_rows.probe = timed_probe  # type: ignore[assignment]
    safety_rows.fill = timed_fill  # type: ignore[assignment]


def run_once(project: Path, rows: bool, server: EmbeddedPostgres) -> dict[str, Any]:
    pid = server.pid
    assert pid is not None
    cfg = GauntletConfig(
        alembic_ini=str(project / "alembic.ini"),
        safety_fail_on=(),
        safety_rows=rows,
        parallel=False,
    )
    COUNT.reset()
    own, srv, wall = _own_cpu(), _server_cpu(pid), time.perf_counter()
    with Gauntlet(None, cfg) as g:
        report = g.run_all(WALK, raise_on_failure=False)
    wall = time.perf_counter() - wall
    time.sleep(0.3)  # the run's backends exit and are reaped
    bad = {r.name: r.status for r in report.results if r.status != "passed"}
    if bad:
        raise SystemExit(f"run did not pass: {bad}")
    return {
        "wall_s": wall,
        "own_cpu_s": _own_cpu() - own,
        "server_cpu_s": _server_cpu(pid) - srv,
        "statements": COUNT.statements,
        "probes": COUNT.probes,
        "probe_statements": COUNT.probe_statements,
        "fill_statements": COUNT.fill_statements,
        "probe_s": COUNT.probe_s,
        "fill_s": COUNT.fill_s,
        "load": os.getloadavg()[0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "gauntlet-safety"
    )
    args = parser.parse_args()
    project = args.work / f"history_{args.n}"
    make_history.generate(project, args.n)
    _instrument()
    server = EmbeddedPostgres.shared()
    run_once(project, True, server)  # warm-up: imports, server caches
    runs: dict[str, list[dict[str, Any]]] = {"rows": [], "no_rows": []}
    for i in range(args.rounds):
        order = [True, False] if i % 2 == 0 else [False, True]
        for rows in order:
            data = run_once(project, rows, server)
            runs["rows" if rows else "no_rows"].append(data)
            cpu = data["own_cpu_s"] + data["server_cpu_s"]
            print(
                "rows" if rows else "no_rows",
                f"cpu {cpu:.2f} s (own {data['own_cpu_s']:.2f}, server {data['server_cpu_s']:.2f})",
                f"probes {data['probe_s']:.2f} s, fill {data['fill_s']:.2f} s,",
                f"{data['probe_statements']} probe statements, load {data['load']:.1f}",
                file=sys.stderr,
            )
    if args.profile is not None:
        COUNT.profile = cProfile.Profile()
        run_once(project, True, server)
        COUNT.profile.dump_stats(str(args.profile))
    summary: dict[str, Any] = {}
    for name, values in runs.items():
        for key in ("wall_s", "own_cpu_s", "server_cpu_s", "probe_s", "fill_s"):
            xs = [float(v[key]) for v in values]
            summary[f"{name}.{key}"] = {"min": min(xs), "median": statistics.median(xs)}
        cpu = [float(v["own_cpu_s"]) + float(v["server_cpu_s"]) for v in values]
        summary[f"{name}.cpu_s"] = {"min": min(cpu), "median": statistics.median(cpu)}
    print(json.dumps({"n": args.n, "rounds": args.rounds, "runs": runs, "summary": summary}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Issue 18, "linear cost": how run_all and the no_trace walk grow with the history.

    python benchmarks/growth.py [--base DIR] [--sizes 150,300,1200] [--walk-size 1000]
                                [--repeat 3] [--work /tmp/gauntlet-growth] [--no-safety-rows]
                                [--profile-dir DIR]

For each size N (make_history.py's generated history) it times, each in a fresh process:

* ``run_all()`` with every check (as ``child.py run_all``: whole process and in-process);
* at ``--walk-size``: the stairway alone and the stairway with no_trace, serially
  (``parallel=False``: one walk in one process, no split), in-process seconds of the walk.

``--base DIR`` is another checkout of gauntlet_sync (e.g. ``git archive <commit> | tar -x
-C DIR``): every measurement is made for it too, interleaved run by run with this one, so
that drifting load hits both alike. The machine is shared: the minimum of ``--repeat`` runs
is reported (and every run is printed, with the load average at its start).

Wall time on a shared machine says little: each run also reports the CPU seconds its
``run_all`` cost, this process's own (``RUSAGE_SELF``), its forked walk children's
(``RUSAGE_CHILDREN``) and the embedded server's (the postmaster's ``/proc/<pid>/stat``
utime+stime+cutime+cstime: its exited backends and autovacuum workers included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import make_history  # noqa: E402

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
sys.path.insert(0, {bench!r})
import gauntlet_sync
from make_history import load_metadata
from gauntlet_sync import Gauntlet, GauntletConfig
project, mode = {project!r}, {mode!r}
checks = None if mode == "run_all" else mode.split(",")
cfg = GauntletConfig(
    alembic_ini=project + "/alembic.ini",
    metadata=load_metadata(project),
    safety_fail_on=(),
    **({extra_config}),
    parallel=(mode == "run_all"),
)
import os, resource
from gauntlet_sync.server import EmbeddedPostgres
def cpu(who):
    r = resource.getrusage(who)
    return r.ru_utime + r.ru_stime
def server_cpu():
    # the postmaster's own CPU and that of its backends that have exited (reaped)
    fields = open(f"/proc/{{EmbeddedPostgres.shared().pid}}/stat").read().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:15]) / os.sysconf("SC_CLK_TCK")
profile = {profile!r}
with Gauntlet(None, cfg) as g:
    pg0, py0, kids0 = server_cpu(), cpu(resource.RUSAGE_SELF), cpu(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    if profile:
        import cProfile
        prof = cProfile.Profile(time.process_time)
        report = prof.runcall(g.run_all, checks, raise_on_failure=False)
        prof.dump_stats(profile)
    else:
        report = g.run_all(checks, raise_on_failure=False)
    run_s = time.perf_counter() - t
    py_cpu = cpu(resource.RUSAGE_SELF) - py0
    kids_cpu = cpu(resource.RUSAGE_CHILDREN) - kids0
time.sleep(0.3)  # the run's backends exit and are reaped by the postmaster
pg_cpu = server_cpu() - pg0
bad = {{r.name: r.status for r in report.results if r.status != "passed"}}
print(json.dumps({{"run_s": run_s, "in_process_s": time.perf_counter() - t0, "bad": bad,
                  "py_cpu": py_cpu, "fork_cpu": kids_cpu, "pg_cpu": pg_cpu,
                  "where": gauntlet_sync.__file__}}))
"""


def run(
    code_dir: Path, project: Path, mode: str, profile: str = "", extra_config: str = "{}"
) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    code = CHILD.format(
        bench=str(HERE), project=str(project), mode=mode, profile=profile, extra_config=extra_config
    )
    load = os.getloadavg()[0]
    t = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd="/tmp"
    )
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    if not out["where"].startswith(str(code_dir)):
        raise RuntimeError(f"imported {out['where']}, not from {code_dir}")
    if out["bad"]:
        raise RuntimeError(f"{mode} on {project}: {out['bad']}")
    out.update(wall_s=wall, load=load)
    return out


def cpu_total(out: dict[str, Any]) -> float:
    """CPU seconds of the run: this process, its forked walk children, the server."""
    return float(out["py_cpu"] + out["fork_cpu"] + out["pg_cpu"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, default=None)
    parser.add_argument("--sizes", default="150,300,1200")
    parser.add_argument("--walk-size", type=int, default=1000, help="0: no walk-only runs")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gauntlet-growth"))
    parser.add_argument(
        "--profile-dir",
        type=Path,
        default=None,
        help="cProfile each run_all with a CPU clock into DIR/<N>-<mode>-<code>-<run>.prof",
    )
    parser.add_argument(
        "--no-safety-rows",
        action="store_true",
        help="safety_rows=False (compare with a checkout whose default was off)",
    )
    args = parser.parse_args()
    codes = {"this": ROOT}
    if args.base is not None:
        codes["base"] = args.base.resolve()
    jobs: list[tuple[int, str]] = [(int(n), "run_all") for n in args.sizes.split(",") if n]
    if args.walk_size:
        jobs += [(args.walk_size, "stairway"), (args.walk_size, "stairway,no_trace")]
    projects = {}
    for n, _ in jobs:
        if n not in projects:
            projects[n] = args.work / f"history_{n}"
            make_history.generate(projects[n], n)
    results: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for attempt in range(args.repeat):
        for n, mode in jobs:
            for name, code_dir in codes.items():
                key = f"{n} {mode}"
                extra = "{'safety_rows': False}" if args.no_safety_rows else "{}"
                profile = ""
                if args.profile_dir is not None:
                    args.profile_dir.mkdir(parents=True, exist_ok=True)
                    tag = f"{n}-{mode.replace(',', '+')}-{name}-{attempt + 1}.prof"
                    profile = str(args.profile_dir.resolve() / tag)
                out = run(code_dir, projects[n], mode, profile, extra_config=extra)
                results.setdefault(key, {}).setdefault(name, []).append(out)
                print(
                    f"run {attempt + 1} N={n} {mode} [{name}]: in-process run {out['run_s']:.2f} s,"
                    f" whole process {out['wall_s']:.2f} s, load {out['load']:.1f}; CPU s of the"
                    f" run: python {out['py_cpu']:.1f} + forked children {out['fork_cpu']:.1f}"
                    f" + server {out['pg_cpu']:.1f} = {cpu_total(out):.1f}",
                    flush=True,
                )
    print("\nminimum of", args.repeat, "runs (seconds):")
    for key, by_code in results.items():
        for name, runs in by_code.items():
            print(
                f"  N={key} [{name}]: run {min(r['run_s'] for r in runs):.2f},"
                f" whole process {min(r['wall_s'] for r in runs):.2f},"
                f" CPU {min(cpu_total(r) for r in runs):.1f}"
            )
    (args.work / "growth.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

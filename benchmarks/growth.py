#!/usr/bin/env python3
"""Issue 18, "linear cost": how run_all and the no_trace walk grow with the history.

    python benchmarks/growth.py [--base DIR] [--sizes 150,300,1200] [--walk-size 1000]
                                [--repeat 3] [--work /tmp/gauntlet-growth]

For each size N (make_history.py's generated history) it times, each in a fresh process:

* ``run_all()`` with every check (as ``child.py run_all``: whole process and in-process);
* at ``--walk-size``: the stairway alone and the stairway with no_trace, serially
  (``parallel=False``: one walk in one process, no split), in-process seconds of the walk.

``--base DIR`` is another checkout of gauntlet_sync (e.g. ``git archive <commit> | tar -x
-C DIR``): every measurement is made for it too, interleaved run by run with this one, so
that drifting load hits both alike. The machine is shared: the minimum of ``--repeat`` runs
is reported (and every run is printed, with the load average at its start).
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
    parallel=(mode == "run_all"),
)
with Gauntlet(None, cfg) as g:
    t = time.perf_counter()
    report = g.run_all(checks, raise_on_failure=False)
    run_s = time.perf_counter() - t
bad = {{r.name: r.status for r in report.results if r.status != "passed"}}
print(json.dumps({{"run_s": run_s, "in_process_s": time.perf_counter() - t0, "bad": bad,
                  "where": gauntlet_sync.__file__}}))
"""


def run(code_dir: Path, project: Path, mode: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(code_dir)}
    code = CHILD.format(bench=str(HERE), project=str(project), mode=mode)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, default=None)
    parser.add_argument("--sizes", default="150,300,1200")
    parser.add_argument("--walk-size", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gauntlet-growth"))
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
                out = run(code_dir, projects[n], mode)
                results.setdefault(key, {}).setdefault(name, []).append(out)
                print(
                    f"run {attempt + 1} N={n} {mode} [{name}]: in-process run {out['run_s']:.2f} s,"
                    f" whole process {out['wall_s']:.2f} s, load {out['load']:.1f}",
                    flush=True,
                )
    print("\nminimum of", args.repeat, "runs (seconds):")
    for key, by_code in results.items():
        for name, runs in by_code.items():
            print(
                f"  N={key} [{name}]: run {min(r['run_s'] for r in runs):.2f},"
                f" whole process {min(r['wall_s'] for r in runs):.2f}"
            )
    (args.work / "growth.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()

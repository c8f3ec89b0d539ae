#!/usr/bin/env python3
"""Measure prototype optimisations (prototypes.py) against the library as it is.

    python benchmarks/experiments.py --n 150 --repeat 3 --variants "base,notrace"

Each variant runs ``child.py run_all`` (or ``--check NAME``) in a fresh process; variants
are interleaved run by run so drifting machine load hits all alike. Prints medians:
whole-process wall, run_all seconds and per-check seconds; ``--json`` keeps the raw runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import make_history  # noqa: E402
from run import PY, timed  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default="base,notrace")
    parser.add_argument("--check", default=None, help="time one check alone instead of run_all")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gauntlet-bench"))
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--split", action="store_true",
        help="estimate running the head group and the walk group in parallel: two processes "
        "at once (one run_all each on its own embedded server), against one run_all",
    )
    args = parser.parse_args()
    project = args.work / f"history_{args.n}"
    make_history.generate(project, args.n)
    if args.split:
        split(project, args.repeat)
        return
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for i in range(args.repeat):
        for v in variants:
            cmd = [PY, str(HERE / "child.py")]
            cmd += ["check", str(project), args.check] if args.check else ["run_all", str(project)]
            for p in v.split("+"):
                if p != "base":
                    cmd += ["--patch", p]
            r = timed(cmd)
            runs[v].append(r)
            print(f"  run {i + 1} {v}: wall {r['wall_s']:.2f} run {r['run_s']:.2f} "
                  f"load {r['load_during']:.1f}", flush=True)
    names = list(runs[variants[0]][0]["checks"])
    med = statistics.median
    print(f"\nN={args.n}, medians of {args.repeat}:")
    print("| variant | wall | in-process run | " + " | ".join(names) + " | load |")
    print("|---" * (len(names) + 4) + "|")
    for v in variants:
        rs = runs[v]
        cells = [f"{med([r['checks'][c][1] for r in rs]):.2f}" for c in names]
        bad = {c for r in rs for c, (st, _) in r["checks"].items() if st not in ("passed",)}
        print(f"| {v} | {med([r['wall_s'] for r in rs]):.2f} | {med([r['run_s'] for r in rs]):.2f}"
              f" | " + " | ".join(cells) + f" | {med([r['load_during'] for r in rs]):.1f} |"
              + (f" NOT PASSED: {bad}" if bad else ""))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


def split(project: Path, repeat: int) -> None:
    import subprocess
    import time

    from gauntlet_sync import CHECK_NAMES
    from run import wait_quiet

    walk = [c for c in CHECK_NAMES if c in ("stairway", "no_trace")]
    head = [c for c in CHECK_NAMES if c not in walk]
    base = [PY, str(HERE / "child.py"), "run_all", str(project)]
    one, two = [], []
    for i in range(repeat):
        wait_quiet()
        t = time.perf_counter()
        subprocess.run(base, check=True, capture_output=True)
        one.append(time.perf_counter() - t)
        wait_quiet()
        t = time.perf_counter()
        procs = [subprocess.Popen(base + ["--checks", ",".join(g)], stdout=subprocess.DEVNULL)
                 for g in (head, walk)]
        for p in procs:
            p.wait()
        two.append(time.perf_counter() - t)
        print(f"  run {i + 1}: one process {one[-1]:.2f} s, two in parallel {two[-1]:.2f} s")
    med = statistics.median
    print(f"median: one run_all {med(one):.2f} s; head group || walk group {med(two):.2f} s "
          f"(whole processes, wall)")


if __name__ == "__main__":
    main()

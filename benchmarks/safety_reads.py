#!/usr/bin/env python3
"""Issue 18, "linear cost": what safety's catalog reads cost, against another checkout.

    python benchmarks/safety_reads.py --base DIR [--sizes 300,1200] [--repeat 2]
                                      [--work /tmp/gauntlet-growth] [--no-trace]

For each size N (make_history.py's history, as ``growth.py`` makes it), each in a fresh
process and interleaved run by run with ``--base`` (another checkout, e.g. ``git archive
<commit> | tar -x -C DIR``): ``run_all(["stairway", "safety"])`` serially (one walk in
one process, safety's rows probe off: the reads alone), and once the stairway alone. Reports
the CPU seconds of each run (this process's and the embedded server's); safety's own cost
is the difference with the stairway alone. ``--no-trace``: no_trace rides the walk too
(``run_all(["stairway", "no_trace", "safety"])``: what the two checks' per-step reads cost
together, e.g. against a checkout where each read the step's locks itself). The order of
the two checkouts alternates run by run; the medians and the per-run differences close.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import growth  # noqa: E402
import make_history  # noqa: E402

NO_ROWS = "{'safety_rows': False}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--sizes", default="300,1200")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--work", type=Path, default=Path("/tmp/gauntlet-growth"))
    parser.add_argument("--no-trace", action="store_true", help="no_trace rides the walk too")
    args = parser.parse_args()
    codes = {"this": HERE.parent, "base": args.base.resolve()}
    walk = "stairway,no_trace,safety" if args.no_trace else "stairway,safety"
    for n in [int(size) for size in args.sizes.split(",")]:
        project = args.work / f"history_{n}"
        if not (project / "alembic.ini").is_file():
            make_history.generate(project, n)
        totals: dict[str, list[float]] = {name: [] for name in codes}
        for run in range(args.repeat):
            order = list(codes) if run % 2 == 0 else list(reversed(codes))
            modes = [(walk, name) for name in order]
            if run == 0:
                modes.append(("stairway", "this"))
            for mode, name in modes:
                out = growth.run(codes[name], project, mode, extra_config=NO_ROWS)
                cpu = out["py_cpu"] + out["pg_cpu"]
                if mode == walk:
                    totals[name].append(cpu)
                print(
                    f"run {run + 1} N={n} {mode} [{name}]: python {out['py_cpu']:.1f} + server "
                    f"{out['pg_cpu']:.1f} = {cpu:.1f} CPU s, in-process {out['run_s']:.1f} s, "
                    f"load {out['load']:.1f}",
                    flush=True,
                )
        medians = ", ".join(f"{name} {statistics.median(v):.2f}" for name, v in totals.items())
        saved = [b - t for b, t in zip(totals["base"], totals["this"], strict=True)]
        print(
            f"N={n} {walk}: medians {medians} CPU s; base - this per run "
            f"{', '.join(f'{d:+.2f}' for d in saved)} (median {statistics.median(saved):+.2f})",
            flush=True,
        )


if __name__ == "__main__":
    main()

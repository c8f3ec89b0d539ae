#!/usr/bin/env python3
"""Issue 18, "linear cost": what safety's catalog reads cost, against another checkout.

    python benchmarks/safety_reads.py --base DIR [--sizes 300,1200] [--repeat 2]
                                      [--work /tmp/gauntlet-growth]

For each size N (make_history.py's history, as ``growth.py`` makes it), each in a fresh
process and interleaved run by run with ``--base`` (another checkout, e.g. ``git archive
<commit> | tar -x -C DIR``): ``run_all(["stairway", "safety"])`` serially (one walk in
one process, safety's rows probe off: the reads alone), and once the stairway alone. Reports
the CPU seconds of each run (this process's and the embedded server's); safety's own cost
is the difference with the stairway alone.
"""

from __future__ import annotations

import argparse
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
    args = parser.parse_args()
    codes = {"this": HERE.parent, "base": args.base.resolve()}
    for n in [int(size) for size in args.sizes.split(",")]:
        project = args.work / f"history_{n}"
        if not (project / "alembic.ini").is_file():
            make_history.generate(project, n)
        for run in range(args.repeat):
            modes = [("stairway,safety", name) for name in codes]
            if run == 0:
                modes.append(("stairway", "this"))
            for mode, name in modes:
                out = growth.run(codes[name], project, mode, extra_config=NO_ROWS)
                cpu = out["py_cpu"] + out["pg_cpu"]
                print(
                    f"run {run + 1} N={n} {mode} [{name}]: python {out['py_cpu']:.1f} + server "
                    f"{out['pg_cpu']:.1f} = {cpu:.1f} CPU s, in-process {out['run_s']:.1f} s, "
                    f"load {out['load']:.1f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()

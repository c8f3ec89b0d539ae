#!/usr/bin/env python3
"""What the ``safety`` check costs in ``run_all`` (issue 17: at most 20 % at 150 revisions).

    python benchmarks/safety_overhead.py [--n 150] [--repeat 3] [--work DIR]

Generates the benchmark history (``make_history.py``), then runs ``child.py run_all``
three ways, rotated run by run (the machine is shared: rotating spreads its load over
all three), each a fresh process timed from outside (``run.timed``, which first waits up
to 3 s for a quiet machine and samples the load while it runs):

* ``on``: every default check, ``safety`` without generated rows (``safety_rows=False``);
* ``on_rows``: the same with ``safety_rows=True`` (the default);
* ``off``: every default check but ``safety``.

Prints one JSON line: every run (with the load seen before and during it), the minima and
medians of the whole-process wall time and of the report's seconds, the overhead of each
``on`` variant over ``off`` in percent (of the minima, the figure least touched by other
processes, and of the medians), and the 1-minute load average at start and end.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import make_history  # noqa: E402
from run import timed  # noqa: E402

from gauntlet_sync.checks import DEFAULT_CHECKS  # noqa: E402

VARIANTS = ("on", "on_rows", "off")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--work", type=Path, default=Path(tempfile.gettempdir()) / "gauntlet-safety"
    )
    args = parser.parse_args()
    project = args.work / f"history_{args.n}"
    make_history.generate(project, args.n)
    every = ",".join(DEFAULT_CHECKS)
    without = ",".join(c for c in DEFAULT_CHECKS if c != "safety")
    extra = {
        "on": ["--checks", every, "--no-safety-rows"],
        "on_rows": ["--checks", every, "--safety-rows"],
    }
    extra["off"] = ["--checks", without]
    runs: dict[str, list[dict[str, object]]] = {v: [] for v in VARIANTS}
    load_start = os.getloadavg()[0]
    for i in range(args.repeat):
        order = VARIANTS[i % 3 :] + VARIANTS[: i % 3]
        for name in order:
            cmd = [sys.executable, str(HERE / "child.py"), "run_all", str(project)]
            data = timed([*cmd, *extra[name]])
            bad = {c: v for c, v in data["checks"].items() if v[0] != "passed"}
            if bad:
                raise SystemExit(f"run {name} did not pass: {bad}")
            runs[name].append(data)
            print(
                name, f"{data['wall_s']:.1f} s", f"load {data['load_during']:.1f}", file=sys.stderr
            )
    out: dict[str, object] = {
        "n": args.n,
        "repeat": args.repeat,
        "loadavg_1min": {"start": load_start, "end": os.getloadavg()[0]},
        "runs": runs,
    }
    for key in ("wall_s", "report_s"):
        figures: dict[str, object] = {}
        for stat, fn in (("min", min), ("median", statistics.median)):
            values = {v: fn(float(r[key]) for r in runs[v]) for v in VARIANTS}  # type: ignore[arg-type]
            figures[stat] = values
            for v in ("on", "on_rows"):
                figures[f"{stat}_overhead_pct_{v}"] = (
                    100.0 * (values[v] - values["off"]) / values["off"]
                )
        out[key] = figures
    print(json.dumps(out))


if __name__ == "__main__":
    main()

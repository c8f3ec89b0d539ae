#!/usr/bin/env python3
"""What the ``safety`` check costs in ``run_all`` (issue 17: at most 20 % at 150 revisions).

    python benchmarks/safety_overhead.py [--n 150] [--repeat 3] [--work DIR]

Generates the benchmark history (``make_history.py``), then runs ``child.py run_all``
with every default check and with every default check but ``safety``, alternated run by
run (the machine is shared: alternating spreads its load over both), each a fresh process
timed from outside (``run.timed``). Prints one JSON line: every run and the medians of the
whole-process wall time and of the report's seconds, and the overhead in percent.
"""

from __future__ import annotations

import argparse
import json
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
    variants = {
        "on": ",".join(DEFAULT_CHECKS),
        "off": ",".join(c for c in DEFAULT_CHECKS if c != "safety"),
    }
    runs: dict[str, list[dict[str, object]]] = {"on": [], "off": []}
    for i in range(args.repeat):
        for name in ("on", "off") if i % 2 == 0 else ("off", "on"):
            cmd = [sys.executable, str(HERE / "child.py"), "run_all", str(project)]
            data = timed([*cmd, "--checks", variants[name]])
            bad = {c: v for c, v in data["checks"].items() if v[0] != "passed"}
            if bad:
                raise SystemExit(f"run {name} did not pass: {bad}")
            runs[name].append(data)
            print(name, f"{data['wall_s']:.1f} s", file=sys.stderr)
    out: dict[str, object] = {"n": args.n, "repeat": args.repeat, "runs": runs}
    for key in ("wall_s", "report_s"):
        on = statistics.median(float(r[key]) for r in runs["on"])  # type: ignore[arg-type]
        off = statistics.median(float(r[key]) for r in runs["off"])  # type: ignore[arg-type]
        out[key] = {"on": on, "off": off, "overhead_pct": 100.0 * (on - off) / off}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

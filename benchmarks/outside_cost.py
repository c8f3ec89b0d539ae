#!/usr/bin/env python3
"""The cost of the outside guard (issue 13): run_all at N revisions, with and without it.

    python benchmarks/outside_cost.py --base /tmp/base-checkout [--n 150] [--repeat 5]

``--base`` is a checkout of the library without the guard (e.g. ``git archive`` of the
commit before it). Four variants, each a fresh ``child.py run_all`` process, interleaved
run by run so that load on the shared machine falls on all of them alike:

* ``base/embedded``, ``this/embedded``: no DSN, the embedded server (the lighter check);
* ``base/dsn``, ``this/dsn``: the DSN of a private server started here, which counts as a
  user's database: every commit is checked (``this``) or not (``base``).

The in-process ``run_all`` seconds (``run_s``) are compared: medians, and the ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def run_once(checkout: Path, project: Path, dsn: str | None) -> float:
    cmd = [sys.executable, str(checkout / "benchmarks" / "child.py"), "run_all", str(project)]
    if dsn:
        cmd += ["--dsn", dsn]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=checkout)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    statuses = {name: status for name, (status, _) in data["checks"].items()}
    if set(statuses.values()) != {"passed"}:
        raise SystemExit(f"not every check passed: {statuses}")
    return float(data["run_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from gauntlet_sync import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="gauntlet-outside-"))
    project = work / f"h{args.n}"
    subprocess.run(
        [sys.executable, str(HERE / "make_history.py"), str(project), str(args.n)], check=True
    )
    server = EmbeddedPostgres()
    try:
        variants = {
            "base/embedded": (args.base, None),
            "this/embedded": (HERE.parent, None),
            "base/dsn": (args.base, server.dsn),
            "this/dsn": (HERE.parent, server.dsn),
        }
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, (checkout, dsn) in variants.items():
                times[name].append(run_once(checkout, project, dsn))
    finally:
        server.stop()
    med = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(f"{name:14} median {med[name]:.3f} s  runs {' '.join(f'{v:.2f}' for v in values)}")
    for mode in ("embedded", "dsn"):
        ratio = med[f"this/{mode}"] / med[f"base/{mode}"]
        print(f"{mode}: guard cost {100 * (ratio - 1):+.1f} %")


if __name__ == "__main__":
    main()

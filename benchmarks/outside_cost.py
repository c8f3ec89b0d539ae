#!/usr/bin/env python3
"""The cost of the outside guard (issue 13): run_all at N revisions, with and without it.

    python benchmarks/outside_cost.py --base /tmp/base-checkout [--n 150] [--repeat 5]

``--base`` is a checkout of the library without the guard (e.g. ``git archive`` of the
commit before it). Four variants, each a fresh ``child.py run_all`` process, interleaved
run by run so that load on the shared machine falls on all of them alike:

* ``base/embedded``, ``this/embedded``: no DSN, the embedded server (the lighter check);
* ``base/dsn``, ``this/dsn``: the DSN of a private server started here, which counts as a
  user's database: every commit is checked (``this``) or not (``base``);
* ``noguard/dsn``: this checkout with the guard's commit check patched out
  (``prototypes.py``'s ``noguard``): the guard's own cost, without whatever else the
  library gained since the base checkout.

The in-process ``run_all`` seconds (``run_s``) are compared: minima (the machine is shared:
load only ever adds time) and medians, and the ratios. So is the CPU time each run costs,
which load on a shared machine hardly changes: the child process's (and its forked
children's) user+system seconds, plus the server's (the postmaster's own and its reaped
backends', from /proc). ``--variants`` picks some.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def _server_cpu(pid: int | None) -> float:
    """The postmaster's CPU seconds, its exited (reaped) backends' included."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    utime, stime, cutime, cstime = (int(f) for f in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def _client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(
    checkout: Path, project: Path, dsn: str | None, patches: list[str], server_pid: int | None
) -> tuple[float, float]:
    """(in-process run_all seconds, CPU seconds of client and server for the run)."""
    cpu = _client_cpu() + _server_cpu(server_pid)
    cmd = [sys.executable, str(checkout / "benchmarks" / "child.py"), "run_all", str(project)]
    if dsn:
        cmd += ["--dsn", dsn]
    for name in patches:
        cmd += ["--patch", name]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=checkout)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    statuses = {name: status for name, (status, _) in data["checks"].items()}
    if set(statuses.values()) != {"passed"}:
        raise SystemExit(f"not every check passed: {statuses}")
    time.sleep(0.5)  # the run's backends exit and are reaped (their CPU is then counted)
    cpu = _client_cpu() + _server_cpu(server_pid) - cpu
    return float(data["run_s"]), cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", type=Path, required=True)
    parser.add_argument("--n", type=int, default=150)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--variants",
        default="base/embedded,this/embedded,base/dsn,noguard/dsn,this/dsn",
        help="comma-separated, of: %(default)s",
    )
    args = parser.parse_args()

    from gauntlet_sync import EmbeddedPostgres

    work = Path(tempfile.mkdtemp(prefix="gauntlet-outside-"))
    project = work / f"h{args.n}"
    subprocess.run(
        [sys.executable, str(HERE / "make_history.py"), str(project), str(args.n)], check=True
    )
    server = EmbeddedPostgres()
    try:
        every: dict[str, tuple[Path, str | None, list[str]]] = {
            "base/embedded": (args.base, None, []),
            "this/embedded": (HERE.parent, None, []),
            "base/dsn": (args.base, server.dsn, []),
            "noguard/dsn": (HERE.parent, server.dsn, ["noguard"]),
            "this/dsn": (HERE.parent, server.dsn, []),
        }
        variants = {name: every[name] for name in args.variants.split(",")}
        times: dict[str, list[float]] = {name: [] for name in variants}
        cpus: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.repeat):
            for name, (checkout, dsn, patches) in variants.items():
                pid = server.pid if dsn else None  # embedded: the server is the child's
                wall, cpu = run_once(checkout, project, dsn, patches, pid)
                times[name].append(wall)
                cpus[name].append(cpu)
                print(f"{name:14} {wall:.2f} s  cpu {cpu:.2f} s", flush=True)
    finally:
        server.stop()
    for name, values in cpus.items():
        print(f"{name:14} cpu min {min(values):.3f} s  median {statistics.median(values):.3f} s")
    for this, base in (("this/dsn", "base/dsn"), ("this/dsn", "noguard/dsn")):
        if this in cpus and base in cpus:
            low = 100 * (min(cpus[this]) / min(cpus[base]) - 1)
            mid = 100 * (statistics.median(cpus[this]) / statistics.median(cpus[base]) - 1)
            print(f"cpu {this} vs {base}: {low:+.1f} % (minima), {mid:+.1f} % (medians)")
    low = {name: min(values) for name, values in times.items()}
    med = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        print(
            f"{name:14} min {low[name]:.3f} s  median {med[name]:.3f} s  "
            f"runs {' '.join(f'{v:.2f}' for v in values)}"
        )
    for this, base in (
        ("this/embedded", "base/embedded"),
        ("this/dsn", "base/dsn"),
        ("this/dsn", "noguard/dsn"),
    ):
        if this in low and base in low:
            print(
                f"{this} vs {base}: {100 * (low[this] / low[base] - 1):+.1f} % (minima), "
                f"{100 * (med[this] / med[base] - 1):+.1f} % (medians)"
            )


if __name__ == "__main__":
    main()

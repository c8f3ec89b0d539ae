#!/usr/bin/env python3
"""The gauntlet-sync benchmark: one command, writes benchmarks/RESULTS.md.

    python benchmarks/run.py [--sizes 50,150,300] [--repeat 3] [--no-profile]

For each N it generates an N-revision history (make_history.py) and times, each in a
fresh process (the whole process wall time, as a user would run it):

* ``run_all()`` with every check on the embedded server (per-check seconds from the
  report too), and each check alone;
* the floor: the same DDL as offline SQL (``floor.py``) through one ``psql`` session on a
  fresh database of an embedded server this script starts;
* alembic-gauntlet and pytest-alembic when importable.

Plus the embedded server's start times (fresh process: no initdb cache, empty cache,
warm cache; reuse of ``EmbeddedPostgres.shared()`` in one process), the peak RSS of the
largest ``run_all`` and a cProfile of the 150-revision ``run_all`` (profile_150.txt).

The machine is shared: before each timed process we wait (up to 3 s) for the runnable
task count to be low, and note the mean runnable count seen during each run.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT))

import floor  # noqa: E402
import make_history  # noqa: E402

PY = sys.executable
from gauntlet_sync import CHECK_NAMES  # noqa: E402

CHECKS = tuple(CHECK_NAMES)  # the nine of the issue, plus any the library added since
PEERS = Path("/work/shared/bench/peers-baseline.md")


# --- a quiet machine -----------------------------------------------------------------------


def _runnable() -> int:
    with open("/proc/loadavg") as f:
        return int(f.read().split()[3].split("/")[0])


def wait_quiet(limit: float = 1.6, max_wait: float = 3.0) -> float:
    """Wait until the mean runnable count over ~1 s is <= limit (we count as 1)."""
    started = time.monotonic()
    while True:
        samples = []
        for _ in range(5):
            samples.append(_runnable())
            time.sleep(0.2)
        mean = sum(samples) / len(samples)
        if mean <= limit or time.monotonic() - started > max_wait:
            return mean


class Sampler:
    """Mean runnable-task count while a timed process runs (the sampler counts 1)."""

    def __init__(self) -> None:
        self.samples: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.wait(0.25):
            self.samples.append(_runnable())

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd`` once on a quiet machine; wall time, load seen, and the child's JSON."""
    before = wait_quiet()
    with Sampler() as sampler:
        t = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
        wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    data: dict[str, Any] = {}
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if lines:
        data = json.loads(lines[-1])
    data["wall_s"] = wall
    data["load_before"] = before
    data["load_during"] = sampler.mean
    return data


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- the measurements -----------------------------------------------------------------------


def bench_size(n: int, repeat: int, work: Path, pg: Any, profile: bool) -> dict[str, Any]:
    project = work / f"history_{n}"
    make_history.generate(project, n)
    res: dict[str, Any] = {
        "n": n, "run_all": [], "cli": [], "alone": {c: [] for c in CHECKS}, "floor": {}
    }

    # floor
    sql = floor.write_floor_sql(project, work / f"floor_{n}")
    import psycopg

    admin = psycopg.connect(pg.dsn.replace("/test?", "/postgres?"), autocommit=True)
    for kind in ("upgrade", "downgrade", "stairway"):
        runs = []
        for i in range(repeat):
            db = f"floor_{n}_{kind}_{i}"
            admin.execute(f"DROP DATABASE IF EXISTS {db}")
            admin.execute(f"CREATE DATABASE {db}")
            if kind == "downgrade":
                floor.run_psql(pg.socket_dir, pg.port, db, sql["upgrade"])
            runs.append(timed(floor.psql_command(pg.socket_dir, pg.port, db, sql[kind])))
            admin.execute(f"DROP DATABASE {db}")
        res["floor"][kind] = runs
    admin.close()

    # run_all and each check alone, interleaved so drifting load hits all alike
    child = str(HERE / "child.py")
    for _ in range(repeat):
        res["run_all"].append(timed([PY, child, "run_all", str(project)]))
        # the same checks as a CI job runs them: the command line, whole process
        res["cli"].append(timed([PY, "-m", "gauntlet_sync", "-c", str(project / "alembic.ini"), "-q"]))
        for check in CHECKS:
            res["alone"][check].append(timed([PY, child, "check", str(project), check]))
        bad = {
            k: v[0] for r in [res["run_all"][-1]] for k, v in r["checks"].items()
            if v[0] != "passed"
        }
        bad.update(
            {c: runs[-1]["checks"][c][0] for c, runs in res["alone"].items()
             if runs[-1]["checks"][c][0] != "passed"}
        )
        if bad:
            raise RuntimeError(f"N={n}: checks did not pass: {bad}")
        print(
            f"  N={n}: run_all {res['run_all'][-1]['wall_s']:.2f} s whole process, "
            f"{res['run_all'][-1]['report_s']:.2f} s report",
            flush=True,
        )

    if profile and n == 150:
        out = work / "profile_150.prof"
        timed([PY, child, "run_all", str(project), "--profile", str(out)])
        write_profile(out, HERE / "profile_150.txt")
    return res


def bench_server(repeat: int, work: Path) -> dict[str, list[dict[str, Any]]]:
    child = [PY, str(HERE / "child.py"), "server"]
    warm_dir = work / "pg-cache-warm"
    shutil.rmtree(warm_dir, ignore_errors=True)
    base = dict(os.environ)
    warm = {**base, "GAUNTLET_CACHE_DIR": str(warm_dir), "GAUNTLET_PG_CACHE": "1"}
    subprocess.run(child, env=warm, check=True, capture_output=True)  # fill the cache
    out: dict[str, list[dict[str, Any]]] = {"warm cache": [], "empty cache": [], "no cache": []}
    for _ in range(repeat):
        out["warm cache"].append(timed(child, warm))
        empty = Path(tempfile.mkdtemp(prefix="pg-cache-empty-", dir=work))
        out["empty cache"].append(
            timed(child, {**base, "GAUNTLET_CACHE_DIR": str(empty), "GAUNTLET_PG_CACHE": "1"})
        )
        shutil.rmtree(empty, ignore_errors=True)
        out["no cache"].append(timed(child, {**base, "GAUNTLET_PG_CACHE": "0"}))
    return out


def write_profile(prof: Path, out: Path) -> None:
    with open(out, "w") as fh:
        stats = pstats.Stats(str(prof), stream=fh)
        stats.strip_dirs()
        fh.write("cProfile of Gauntlet.run_all() on the 150-revision history (in-process,\n")
        fh.write("the Gauntlet already built; profiling overhead inflates Python-heavy code)\n\n")
        fh.write("=== top 45 by cumulative time ===\n")
        stats.sort_stats("cumulative").print_stats(45)
        fh.write("\n=== top 45 by own (tottime) time ===\n")
        stats.sort_stats("tottime").print_stats(45)


def peers_status() -> dict[str, str]:
    found = {}
    for mod, label in (("alembic_gauntlet", "alembic-gauntlet"), ("pytest_alembic", "pytest-alembic")):
        found[label] = "installed" if importlib.util.find_spec(mod) else "not installed"
    return found


# --- the report -----------------------------------------------------------------------------


def _f(x: float) -> str:
    return f"{x:.2f}"


def _runs(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def _load(runs: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['load_during']:.1f}" for r in runs)


def write_results(
    sizes: list[dict[str, Any]], server: dict[str, Any], repeat: int, out: Path, tools: dict
) -> dict[str, Any]:
    lines: list[str] = []
    add = lines.append
    by_n = {s["n"]: s for s in sizes}
    import alembic
    import sqlalchemy

    add("# gauntlet-sync benchmark results\n")
    add(
        f"Produced by `python benchmarks/run.py` ({time.strftime('%Y-%m-%d %H:%M')}); "
        f"medians of {repeat} runs. Python {platform.python_version()}, {os.cpu_count()} CPUs "
        f"(shared and noisy), PostgreSQL {server_version()}, alembic {alembic.__version__}, "
        f"SQLAlchemy {sqlalchemy.__version__}. Wall = the whole process (`perf_counter` around "
        "`subprocess.run`: interpreter start, imports, embedded server start, run, exit). "
        "In-process = the check's own seconds (from the report, or around the `check_*` call). "
        "Load = mean runnable tasks while it ran (the sampler counts 1, our client and its "
        "backend ~1-2; above ~3 other jobs competed for the 2 CPUs).\n"
    )
    add(f"gauntlet_sync measured: {tools.get('library at start')} at the start, "
        f"{tools.get('library at end')} at the end (other engineers edit it meanwhile).\n")
    add("## Main table (medians, seconds)\n")
    add(
        "| N | floor upgrade.sql | floor downgrade.sql | floor stairway.sql | run_all wall "
        "(whole process) | run_all in-process | run_all wall / composite floor | stairway alone "
        "(in-process) | stairway / floor stairway | no_trace alone (in-process) | peak RSS "
        "run_all (MB) |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    summary: dict[str, Any] = {}
    for n, s in by_n.items():
        fl = {k: med([r["wall_s"] for r in v]) for k, v in s["floor"].items()}
        composite = fl["stairway"] + fl["upgrade"] + fl["downgrade"]
        ra_wall = med([r["wall_s"] for r in s["run_all"]])
        ra_in = med([r["report_s"] for r in s["run_all"]])
        st = med([r["run_s"] for r in s["alone"]["stairway"]])
        nt = med([r["run_s"] for r in s["alone"]["no_trace"]])
        rss = max(r["maxrss_mb"] for r in s["run_all"])
        summary[n] = dict(floor=fl, composite=composite, ra_wall=ra_wall, ra_in=ra_in,
                          stairway=st, no_trace=nt, rss=rss)
        add(
            f"| {n} | {_f(fl['upgrade'])} | {_f(fl['downgrade'])} | {_f(fl['stairway'])} | "
            f"{_f(ra_wall)} | {_f(ra_in)} | {ra_wall / composite:.1f}x | {_f(st)} | "
            f"{st / fl['stairway']:.1f}x | {_f(nt)} | {rss:.0f} |"
        )
    add(
        "\nComposite floor = stairway.sql + upgrade.sql + downgrade.sql: the least DDL that "
        "run_all has to execute (one stairway walk, one upgrade, one downgrade).\n"
    )

    add("## Each check: in run_all (report) and alone (fresh process)\n")
    add("| N | check | in run_all, s | alone: check s | alone: whole process s | alone runs (check s) | load during alone runs |")
    add("|---|---|---|---|---|---|---|")
    for n, s in by_n.items():
        for c in CHECKS:
            in_all = med([r["checks"][c][1] for r in s["run_all"]])
            alone = [r["run_s"] for r in s["alone"][c]]
            whole = med([r["wall_s"] for r in s["alone"][c]])
            add(f"| {n} | {c} | {_f(in_all)} | {_f(med(alone))} | {_f(whole)} | "
                f"{_runs(alone)} | {_load(s['alone'][c])} |")
        add(f"| {n} | **run_all** | {_f(med([r['report_s'] for r in s['run_all']]))} | | "
            f"{_f(med([r['wall_s'] for r in s['run_all']]))} | "
            f"{_runs([r['wall_s'] for r in s['run_all']])} (wall) | {_load(s['run_all'])} |")
    add("")
    add("The same run through the command line (`python -m gauntlet_sync -c alembic.ini -q`, "
        "whole process; it freezes the heap before exiting, see below):\n")
    add("| N | CLI whole process, median s | runs | load |")
    add("|---|---|---|---|")
    for s in sizes:
        if s.get("cli"):
            add(f"| {s['n']} | {_f(med([r['wall_s'] for r in s['cli']]))} | "
                f"{_runs([r['wall_s'] for r in s['cli']])} | {_load(s['cli'])} |")
    add("")
    add("Where the whole-process time of run_all goes (medians): ")
    add("\n| N | interpreter + imports | Gauntlet() (history load, server start, ping) | run_all | exit (server stop) |")
    add("|---|---|---|---|---|")
    for n, s in by_n.items():
        imp = med([r["import_s"] for r in s["run_all"]])
        init = med([r["init_s"] for r in s["run_all"]])
        run = med([r["run_s"] for r in s["run_all"]])
        wall = med([r["wall_s"] for r in s["run_all"]])
        inproc = med([r["in_process_s"] for r in s["run_all"]])
        add(f"| {n} | {_f(imp)} | {_f(init)} | {_f(run)} | {_f(wall - inproc)} (wall - in-process) |")

    add("\n## Floor runs\n")
    add("| N | file | median s | runs | load |")
    add("|---|---|---|---|---|")
    for n, s in by_n.items():
        for k, v in s["floor"].items():
            add(f"| {n} | {k}.sql | {_f(med([r['wall_s'] for r in v]))} | "
                f"{_runs([r['wall_s'] for r in v])} | {_load(v)} |")

    add("\n## Embedded server (fresh process each run)\n")
    add("| case | first start (shared()) s | reuse (shared() again) s | reuse + first connection s | stop s | whole process s |")
    add("|---|---|---|---|---|---|")
    srv = {}
    for case, runs in server.items():
        first = med([r["first_start_s"] for r in runs])
        reuse = med([r["reuse_s"] for r in runs])
        srv[case] = (first, reuse, med([r["reuse_connect_s"] for r in runs]))
        add(f"| {case} | {_f(first)} ({_runs([r['first_start_s'] for r in runs])}) | "
            f"{reuse * 1e6:.1f} µs | {_f(srv[case][2])} | {_f(med([r['stop_s'] for r in runs]))} | "
            f"{_f(med([r['wall_s'] for r in runs]))} |")
    add("\nwarm cache = the initdb result is in GAUNTLET_CACHE_DIR (the normal case after the "
        "first run on a machine); empty cache = a fresh cache dir (initdb, then the copy into "
        "the cache); no cache = GAUNTLET_PG_CACHE=0 (initdb every time).\n")

    add("## Other tools on the same histories\n")
    for label, state in tools.items():
        if label.startswith("library"):
            continue
        add(f"- {label}: {state}" + (
            " in this venv and cannot be fetched here, so it was not run; see the peers' "
            "numbers below." if state == "not installed" else ""))

    # goals
    add("\n## Goals (issue 6)\n")
    add("| goal | measured | verdict |")
    add("|---|---|---|")
    goals = []
    if 150 in summary:
        v = summary[150]["ra_wall"]
        goals.append((f"run_all, all {len(CHECKS)} checks, 150 revisions: < 5 s wall, whole process", f"{_f(v)} s", v < 5))
        cli = [r["wall_s"] for r in by_n[150].get("cli", [])]
        if cli:
            goals.append(("the same through the command line (python -m gauntlet_sync), whole process",
                          f"{_f(med(cli))} s", med(cli) < 5))
    for n, v in summary.items():
        r = v["stairway"] / v["floor"]["stairway"]
        goals.append((f"stairway alone ≤ 3× floor stairway (N={n})",
                      f"{_f(v['stairway'])} / {_f(v['floor']['stairway'])} = {r:.1f}x", r <= 3))
    if 150 in by_n and 300 in by_n:
        worst = []
        for c in CHECKS:
            a = med([r["run_s"] for r in by_n[150]["alone"][c]])
            b = med([r["run_s"] for r in by_n[300]["alone"][c]])
            if a >= 0.02:  # sub-20 ms checks are noise
                worst.append((b / a, c))
        ra = summary[300]["ra_in"] / summary[150]["ra_in"]
        worst.append((ra, "run_all"))
        worst.sort(reverse=True)
        text = ", ".join(f"{c} {x:.2f}x" for x, c in worst)
        goals.append(("time(300) ≤ 2.3 × time(150), every check (alone, in-process; checks "
                      "under 20 ms skipped)", text, worst[0][0] <= 2.3))
    if "warm cache" in srv:
        goals.append(("server reuse within a process < 1 s",
                      f"{srv['warm cache'][1] * 1e6:.1f} µs (+ first connection "
                      f"{_f(srv['warm cache'][2])} s)", srv["warm cache"][2] < 1))
        goals.append(("first start in a fresh process < 3 s (warm initdb cache)",
                      f"{_f(srv['warm cache'][0])} s", srv["warm cache"][0] < 3))
        goals.append(("first start < 3 s without the cache (GAUNTLET_PG_CACHE=0)",
                      f"{_f(srv['no cache'][0])} s", srv["no cache"][0] < 3))
    big = max(summary)
    goals.append((f"peak RSS of run_all at {big} revisions < 300 MB (Python process)",
                  f"{summary[big]['rss']:.0f} MB", summary[big]["rss"] < 300))
    for goal, measured, ok in goals:
        add(f"| {goal} | {measured} | {'met' if ok else '**not met**'} |")

    add("\n## Peers, for comparison (measured elsewhere)\n")
    add("Copied from `../shared/bench/peers-baseline.md`: measured there, on this kind of "
        "machine (2 CPUs, PostgreSQL 15), on the shared generator's histories (10-step "
        "blocks; ours uses 12-step blocks with the same kinds of operations plus a defaulted "
        "column and a type change), not in this run. Whole-process wall seconds, medians.\n")
    add(peers_table())
    marker = "<!-- analysis -->"
    kept = ""
    if out.exists() and marker in out.read_text():  # the hand-written analysis survives
        kept = out.read_text().split(marker, 1)[1]
    add("\n" + marker + kept.rstrip("\n"))
    out.write_text("\n".join(lines) + "\n")
    return summary


def peers_table() -> str:
    if not PEERS.exists():
        return "(peers-baseline.md not found)"
    rows: dict[int, dict[str, str]] = {}
    for line in PEERS.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) < 4 or not cells[0].isdigit():
            continue
        n, tool, check, median = int(cells[0]), cells[1], cells[2], cells[3]
        key = {
            ("floor (psql)", "stairway.sql"): "floor stairway",
            ("alembic-gauntlet", "**whole pytest process**"): "alembic-gauntlet whole (7 checks)",
            ("alembic-gauntlet", "test_stairway_upgrade_downgrade (setup+call+teardown)"):
                "alembic-gauntlet stairway",
            ("pytest-alembic", "**whole pytest process**"): "pytest-alembic whole (4 checks)",
            ("pytest-alembic", "test_up_down_consistency (setup+call+teardown)"):
                "pytest-alembic up_down_consistency",
        }.get((tool, check))
        if key:
            rows.setdefault(n, {})[key] = median
    cols = ["floor stairway", "alembic-gauntlet whole (7 checks)", "alembic-gauntlet stairway",
            "pytest-alembic whole (4 checks)", "pytest-alembic up_down_consistency"]
    out = ["| N | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for n in sorted(rows):
        out.append(f"| {n} | " + " | ".join(rows[n].get(c, "") for c in cols) + " |")
    return "\n".join(out)


def library_state() -> str:
    """The commit measured and whether gauntlet_sync/ had local edits (others work here)."""
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()

    dirty = git("status", "--short", "--", "gauntlet_sync").replace("\n", "; ")
    return f"{git('rev-parse', '--short', 'HEAD')}" + (f" + uncommitted: {dirty}" if dirty else "")


def server_version() -> str:
    try:
        from gauntlet_sync.server import find_pg_bin
        from gauntlet_sync.server import server_version as sv

        return sv(find_pg_bin())
    except Exception:  # noqa: BLE001
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="50,150,300")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "gauntlet-bench")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="only rewrite RESULTS.md from a results.json of an earlier sweep")
    args = parser.parse_args()
    if args.from_json:
        data = json.loads(args.from_json.read_text())
        repeat = len(data["sizes"][0]["run_all"])
        write_results(data["sizes"], data["server"], repeat, args.out, data["tools"])
        return
    sizes = [int(x) for x in args.sizes.split(",") if x]
    args.work.mkdir(parents=True, exist_ok=True)

    from gauntlet_sync import EmbeddedPostgres

    started = time.monotonic()
    state_before = library_state()
    results = []
    with EmbeddedPostgres(tcp=False) as pg:  # the floor's server
        for n in sizes:
            print(f"N={n} ...", flush=True)
            results.append(bench_size(n, args.repeat, args.work, pg, not args.no_profile))
    print("server start times ...", flush=True)
    server = bench_server(args.repeat, args.work)
    tools = peers_status()
    tools["library at start"] = state_before
    tools["library at end"] = library_state()
    (HERE / "results.json").write_text(
        json.dumps({"sizes": results, "server": server, "tools": tools}, indent=1)
    )
    summary = write_results(results, server, args.repeat, args.out, tools)
    print(args.out.read_text())
    print(f"done in {time.monotonic() - started:.0f} s; summary: "
          + json.dumps({n: round(v["ra_wall"], 2) for n, v in summary.items()}))


if __name__ == "__main__":
    main()

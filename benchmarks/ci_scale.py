#!/usr/bin/env python3
"""CI at scale (issue 18): a changed-only run and shards, timed as whole processes.

    python benchmarks/ci_scale.py [--changed 300] [--sharded 1200] [--shards 4] [--repeat 3]
        [--floor] [--variants NAME=DIR,...] [--out FILE.json]

* ``--changed N``: an N-revision history (make_history.py) committed in a git repository,
  then one new revision added (untracked, as in a pull request's checkout); the whole
  process of a ``changed_since="main"`` run (every default check: the head-state checks on
  all N+1 revisions, the walks on the new one) on its own embedded server.
* ``--floor``: what no changed-only run can go below, on the same N+1-revision history:
  a fresh process that only imports alembic and runs ``alembic upgrade head``
  (``alembic.command``) on an already running server (the head-state checks need exactly
  that upgrade), the same imports alone, a bare interpreter, and the embedded server's
  start from its initdb cache (in a fresh process, imports not counted).
* ``--sharded N``: an N-revision history run whole, then in ``--shards`` shards one after
  the other (each as its own process with its own embedded server, as a CI matrix job
  would), cut by revision count and then by the whole run's measured ``revision_seconds``.
  The figure: the slowest shard's wall time over the whole run's.

``--variants before=DIR,after=DIR``: the same changed-only runs (and whole run plus
shards by count) with each library checkout, one process after the other, so that a
drifting load hits them alike.

The library's package is copied and compiled once beforehand (as pip installs a wheel; the
checkout is left alone); revision files are compiled by every run, as in a CI job's fresh
checkout (``PYTHONDONTWRITEBYTECODE=1``).

Each timed process is ``ci_scale.py child ...`` (imports, Gauntlet, run_all, exit), timed
from outside. It also reports CPU seconds, which a loaded machine disturbs far less than
wall time: the process's own (with its forked children) and its embedded server's
(the postmaster and its exited backends, ``/proc/<pid>/stat``).
Before each, we wait (up to 3 s) for a quiet machine; the mean runnable-task
count during each run is recorded next to its time. Results: benchmarks/ci_scale.json and
a Markdown table on stdout (for RESULTS.md).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
#: the library a timed child imports (``--variants``): given by the parent, else this checkout
LIBRARY = os.environ.get("GAUNTLET_BENCH_LIBRARY") or str(HERE.parent)
sys.path.insert(0, LIBRARY)

import make_history  # noqa: E402

NEW_REVISION = '''"""a data-only revision added by the pull request

Revision ID: {rev}
Revises: {prev}
"""
from alembic import op

revision = {rev!r}
down_revision = {prev!r}
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT 1")


def downgrade() -> None:
    op.execute("SELECT 1")
'''


def child(args: argparse.Namespace) -> None:
    """One timed process: run_all on PROJECT with the given scope; one JSON line."""
    started = time.perf_counter()
    from make_history import load_metadata

    from gauntlet_sync import Gauntlet, GauntletConfig

    config = GauntletConfig(
        alembic_ini=f"{args.project}/alembic.ini",
        metadata=load_metadata(Path(args.project)),
        safety_fail_on=(),  # the generated history indexes its own earlier tables
        changed_since=args.changed_since,
        shard=tuple(int(x) for x in args.shard.split("/")) if args.shard else None,  # type: ignore[arg-type]
        shard_timings=args.timings,
    )
    with Gauntlet(None, config) as gauntlet:
        report = gauntlet.run_all(raise_on_failure=False)
    from gauntlet_sync import EmbeddedPostgres

    server_cpu = process_cpu(EmbeddedPostgres.shared().pid)
    own_cpu = own_process_cpu()
    if args.save:
        Path(args.save).write_text(report.to_json())
    walked = len(report.scope.walked) if report.scope else len(gauntlet.history.ids)
    out = {
        "in_process_s": time.perf_counter() - started,
        "report_s": report.seconds,
        "ok": report.ok,
        "walked": walked,
        "cpu_s": own_cpu,
        "server_cpu_s": server_cpu,
        "statuses": {r.name: r.status for r in report.results},
    }
    sys.stdout.write("\n" + json.dumps(out) + "\n")


def process_cpu(pid: int | None) -> float:
    """CPU seconds of process ``pid`` and its waited-for children (a postmaster: the
    backends that ended), from /proc/<pid>/stat; NaN where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    ticks = sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
    return ticks / os.sysconf("SC_CLK_TCK")


def own_process_cpu() -> float:
    """This process's CPU seconds plus its waited-for children's (forked checks, git)."""
    import resource

    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


#: set by main(): the children's environment, and each library's compiled copy (see
#: compiled_library)
CHILD_ENV: dict[str, str] = {}
COPIES: dict[str, str] = {}


def compiled_library(root: Path, libraries: list[str]) -> dict[str, str]:
    """Each library's package copied under ``root`` and compiled there once, as a wheel
    installed by pip has it (the checkout itself is left alone); the children then write
    no bytecode (``PYTHONDONTWRITEBYTECODE``), so that the revision files are compiled by
    every run, as in a CI job's fresh checkout. Returns library -> its copy's directory."""
    copies: dict[str, str] = {}
    for number, library in enumerate(dict.fromkeys(libraries)):
        copy = root / f"library{number}"
        shutil.copytree(
            Path(library) / "gauntlet_sync",
            copy / "gauntlet_sync",
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(copy)], check=True)
        copies[library] = str(copy)
    return copies


def timed(project: Path, *extra: str, library: str | None = None) -> dict[str, Any]:
    # imported here: run.py puts this checkout first on sys.path and imports its library,
    # which a child timing another library (--variants) must not do
    from run import Sampler, wait_quiet
    quiet = wait_quiet()
    with Sampler() as sampler:
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, __file__, "child", str(project), *extra],
            capture_output=True,
            text=True,
            check=False,
            env={
                **os.environ,
                **CHILD_ENV,
                "PYTHONPATH": COPIES.get(library or LIBRARY, library or LIBRARY),
                "GAUNTLET_BENCH_LIBRARY": COPIES.get(library or LIBRARY, library or LIBRARY),
            },
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed ({done.returncode}): {done.stderr[-2000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(wall_s=wall, runnable_before=quiet, runnable_during=sampler.mean)
    return result


FLOOR_UPGRADE = """
import json, sys, time
started = time.perf_counter()
from alembic import command
from alembic.config import Config
imported = time.perf_counter()
config = Config(sys.argv[1])
config.set_main_option("sqlalchemy.url", sys.argv[2].replace("%", "%%"))
command.upgrade(config, "head")
print(json.dumps({"imports_s": imported - started, "upgrade_s": time.perf_counter() - imported}))
"""
FLOOR_IMPORTS = "import alembic.command, alembic.config, sqlalchemy, psycopg"
FLOOR_SERVER = """
import json, time
from gauntlet_sync.server.postgres import EmbeddedPostgres
started = time.perf_counter()
server = EmbeddedPostgres()
up = time.perf_counter() - started
server.stop()
print(json.dumps({"server_start_s": up}))
"""


def timed_command(cmd: list[str], server_pid: int | None = None) -> dict[str, Any]:
    """Wall and CPU seconds of one fresh process (and of ``server_pid``'s server meanwhile)."""
    import resource

    from run import Sampler, wait_quiet

    quiet = wait_quiet()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_before = process_cpu(server_pid) if server_pid else 0.0
    with Sampler() as sampler:
        started = time.perf_counter()
        done = subprocess.run(
            cmd,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **CHILD_ENV, "PYTHONPATH": COPIES.get(LIBRARY, LIBRARY)},
        )
        wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{cmd[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result: dict[str, Any] = {}
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("{")]
    if lines:
        result = json.loads(lines[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    result.update(wall_s=wall, cpu_s=cpu, runnable_before=quiet, runnable_during=sampler.mean)
    if server_pid:
        result["server_cpu_s"] = process_cpu(server_pid) - server_before
    return result


def floor(root: Path, n: int, repeat: int) -> dict[str, Any]:
    """The floor of a changed-only run: see the module's docstring (``--floor``)."""
    import psycopg

    from gauntlet_sync.server.postgres import EmbeddedPostgres

    project = root / f"floor{n}"
    make_history.generate(project, n + 1)  # the changed-only run's N + 1 revisions
    found: dict[str, list[dict[str, Any]]] = {
        "python": [],
        "imports": [],
        "alembic_upgrade_head": [],
        "server_start": [],
    }
    with EmbeddedPostgres() as server:
        admin = psycopg.connect(server.dsn.replace("/test?", "/postgres?"), autocommit=True)
        for i in range(repeat):  # interleaved, so that drifting load hits all alike
            found["python"].append(timed_command([sys.executable, "-c", "pass"]))
            found["imports"].append(timed_command([sys.executable, "-c", FLOOR_IMPORTS]))
            database = f"floor_{i}"
            admin.execute(f"DROP DATABASE IF EXISTS {database}")
            admin.execute(f"CREATE DATABASE {database}")
            url = str(server.url.set(database=database).render_as_string(hide_password=False))
            found["alembic_upgrade_head"].append(
                timed_command(
                    [sys.executable, "-c", FLOOR_UPGRADE, str(project / "alembic.ini"), url],
                    server.pid,
                )
            )
            admin.execute(f"DROP DATABASE {database}")
            found["server_start"].append(
                timed_command(
                    [sys.executable, "-c", FLOOR_SERVER],
                    None,
                )
            )
        admin.close()
    return {"revisions": n + 1, **found}


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=b", "-c", "user.email=b@example.org", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def changed_only(
    root: Path, n: int, repeat: int, variants: dict[str, str] | None = None
) -> dict[str, Any]:
    project = root / f"changed{n}"
    make_history.generate(project, n)
    (project / ".gitignore").write_text("__pycache__/\n")
    git(project, "init", "-q", "-b", "main")
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "history")
    versions = project / "migrations" / "versions"
    new = make_history.revision_id(n)
    prev = make_history.revision_id(n - 1)
    (versions / f"zz_{new}.py").write_text(NEW_REVISION.format(rev=new, prev=prev))
    if variants:  # the same runs with each library, interleaved: load drifts alike
        by_variant: dict[str, list[dict[str, Any]]] = {name: [] for name in variants}
        for _ in range(repeat):
            for name, library in variants.items():
                by_variant[name].append(
                    timed(project, "--changed-since", "main", library=library)
                )
        return {"revisions": n + 1, "variants": by_variant}
    runs = [timed(project, "--changed-since", "main") for _ in range(repeat)]
    full = timed(project)
    return {"revisions": n + 1, "changed_runs": runs, "full_run": full}


def sharded(
    root: Path,
    n: int,
    shards: int,
    results: dict[str, Any],
    variants: dict[str, str] | None = None,
) -> None:
    project = root / f"sharded{n}"
    make_history.generate(project, n)
    whole_report = root / "whole.json"
    found: dict[str, Any] = {"revisions": n}
    results["sharded"] = found
    if variants:  # whole run and shards by count per library, one process after the other
        found["variants"] = by_variant = {name: {"by_count": []} for name in variants}
        for name, library in variants.items():
            by_variant[name]["whole"] = timed(project, library=library)
        for i in range(1, shards + 1):
            for name, library in variants.items():
                by_variant[name]["by_count"].append(
                    timed(project, "--shard", f"{i}/{shards}", library=library)
                )
            save(results)
        return
    found["whole"] = timed(project, "--save", str(whole_report))
    save(results)
    found["by_count"] = [timed(project, "--shard", f"{i}/{shards}") for i in range(1, shards + 1)]
    save(results)
    found["by_timings"] = [
        timed(project, "--shard", f"{i}/{shards}", "--timings", str(whole_report))
        for i in range(1, shards + 1)
    ]
    save(results)


def save(results: dict[str, Any]) -> None:
    """Written after each stage: a long run stopped early keeps what it measured."""
    Path(results.get("out", HERE / "ci_scale.json")).write_text(json.dumps(results, indent=2))
    print(table(results), flush=True)


def table(results: dict[str, Any]) -> str:
    lines = []
    for name, runs in results.get("changed", {}).get("variants", {}).items():
        walls = sorted(r["wall_s"] for r in runs)
        cpus = sorted(r["cpu_s"] + r["server_cpu_s"] for r in runs)
        lines.append(
            f"changed-only, {results['changed']['revisions']} revisions, variant {name}: "
            f"wall median {walls[len(walls) // 2]:.2f} s ({', '.join(f'{w:.2f}' for w in walls)})"
            f", CPU (process + server) median {cpus[len(cpus) // 2]:.2f} s "
            f"({', '.join(f'{c:.2f}' for c in cpus)}); runnable during: "
            + ", ".join(f"{r['runnable_during']:.1f}" for r in runs)
        )
    if "changed" in results and "changed_runs" in results["changed"]:
        c = results["changed"]
        walls = sorted(r["wall_s"] for r in c["changed_runs"])
        lines.append(
            f"changed-only, {c['revisions']} revisions, 1 new: whole process "
            f"{walls[len(walls) // 2]:.2f} s median of {len(walls)} "
            f"({', '.join(f'{w:.2f}' for w in walls)}; "
            f"runnable during: {', '.join(str(r['runnable_during']) for r in c['changed_runs'])}); "
            f"walked {c['changed_runs'][0]['walked']}; the full run of the same: "
            f"{c['full_run']['wall_s']:.2f} s"
        )
    if "floor" in results:
        f = results["floor"]
        for key in ("python", "imports", "alembic_upgrade_head", "server_start"):
            runs = f[key]
            walls = sorted(r["wall_s"] for r in runs)
            cpus = sorted(r["cpu_s"] + r.get("server_cpu_s", 0.0) for r in runs)
            extra = ""
            if key == "server_start":
                starts = sorted(r["server_start_s"] for r in runs)
                extra = f"; start itself (imports not counted) {starts[len(starts) // 2]:.2f} s"
            lines.append(
                f"floor {key} ({f['revisions']} revisions): wall {walls[len(walls) // 2]:.2f} s "
                f"median of {len(walls)} ({', '.join(f'{w:.2f}' for w in walls)}), CPU "
                f"(process + server) {cpus[len(cpus) // 2]:.2f} s{extra}; runnable during: "
                + ", ".join(f"{r['runnable_during']:.1f}" for r in runs)
            )
    for name, runs in results.get("sharded", {}).get("variants", {}).items():
        if "whole" not in runs or not runs["by_count"]:
            continue
        whole = runs["whole"]
        walls = [r["wall_s"] for r in runs["by_count"]]
        cpus = [r["cpu_s"] + r["server_cpu_s"] for r in runs["by_count"]]
        whole_cpu = whole["cpu_s"] + whole["server_cpu_s"]
        lines.append(
            f"{len(walls)} shards by count, {results['sharded']['revisions']} revisions, variant "
            f"{name}: wall {', '.join(f'{w:.2f}' for w in walls)} s, slowest "
            f"{100 * max(walls) / whole['wall_s']:.0f} % of the whole run's "
            f"{whole['wall_s']:.2f} s; CPU {', '.join(f'{c:.2f}' for c in cpus)} s, whole "
            f"{whole_cpu:.2f} s (walked {', '.join(str(r['walked']) for r in runs['by_count'])}"
            f"; runnable during the whole {whole['runnable_during']:.1f}, shards "
            + ", ".join(f"{r['runnable_during']:.1f}" for r in runs["by_count"])
            + ")"
        )
    if "sharded" in results and "whole" in results["sharded"]:
        s = results["sharded"]
        whole = s["whole"]["wall_s"]
        for key in ("by_count", "by_timings"):
            if key not in s:
                continue
            walls = [r["wall_s"] for r in s[key]]
            lines.append(
                f"{len(walls)} shards ({key.replace('_', ' ')}), {s['revisions']} revisions: "
                f"{', '.join(f'{w:.2f}' for w in walls)} s (walked "
                f"{', '.join(str(r['walked']) for r in s[key])}); slowest {max(walls):.2f} s = "
                f"{100 * max(walls) / whole:.0f} % of the whole run's {whole:.2f} s "
                f"(runnable during the whole: {s['whole']['runnable_during']}, shards: "
                f"{', '.join(str(r['runnable_during']) for r in s[key])})"
            )
    return "\n".join(f"- {line}" for line in lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "child":
        parser = argparse.ArgumentParser()
        parser.add_argument("mode")
        parser.add_argument("project")
        parser.add_argument("--changed-since")
        parser.add_argument("--shard")
        parser.add_argument("--timings")
        parser.add_argument("--save")
        child(parser.parse_args())
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changed", type=int, default=300)
    parser.add_argument("--sharded", type=int, default=1200)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--floor", action="store_true", help="measure the floor (see above)")
    parser.add_argument("--out", default=str(HERE / "ci_scale.json"), help="the JSON results")
    parser.add_argument(
        "--variants",
        help="compare libraries, run by run: NAME=LIBRARY_DIR,... (e.g. "
        "before=/path/to/old/checkout,after=.)",
    )
    args = parser.parse_args()
    variants = (
        dict(item.split("=", 1) for item in args.variants.split(",")) if args.variants else None
    )
    results: dict[str, Any] = {"loadavg_start": os.getloadavg(), "out": args.out}
    with tempfile.TemporaryDirectory(prefix="gs-ci-scale-") as tmp:
        root = Path(tmp)
        COPIES.update(compiled_library(root, [LIBRARY, *(variants or {}).values()]))
        CHILD_ENV["PYTHONDONTWRITEBYTECODE"] = "1"
        results["child_env"] = dict(CHILD_ENV)
        if args.floor:
            results["floor"] = floor(root, args.changed or 300, args.repeat)
            save(results)
        if args.changed:
            results["changed"] = changed_only(root, args.changed, args.repeat, variants)
            save(results)
        if args.sharded:
            sharded(root, args.sharded, args.shards, results, variants)
    results["loadavg_end"] = os.getloadavg()
    save(results)
    print(f"load average at start {results['loadavg_start']}, at end {results['loadavg_end']}")


if __name__ == "__main__":
    main()

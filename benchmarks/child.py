#!/usr/bin/env python3
"""One timed benchmark process (run by ``run.py``; the parent times the whole process).

    child.py run_all PROJECT [--dsn DSN] [--patch NAME ...] [--profile OUT]
    child.py check PROJECT NAME [--dsn DSN] [--patch NAME ...]
    child.py server

Prints one JSON line last on stdout: the in-process timings, the report's per-check
seconds and statuses, and this process's peak RSS (``getrusage(RUSAGE_SELF)``, which
excludes the PostgreSQL server processes).
``--patch`` applies a prototype optimisation from ``prototypes.py`` before the run.
"""

from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _gauntlet_config(project: str, safety_rows: bool | None = None):  # type: ignore[no-untyped-def]
    from make_history import load_metadata

    from gauntlet_sync import GauntletConfig

    # The generated history indexes, validates and retypes tables created earlier in it:
    # safety observes all of it (same work); each revision allows those rules (make_history).
    # safety_rows: None keeps the library's default (on).
    rows = {} if safety_rows is None else {"safety_rows": safety_rows}
    return GauntletConfig(
        alembic_ini=f"{project}/alembic.ini",
        metadata=load_metadata(project),
        safety_fail_on=(),
        **rows,
    )


def run_checks(args: argparse.Namespace) -> dict:
    import prototypes

    from gauntlet_sync import Gauntlet

    for name in args.patch:
        prototypes.apply(name)
    t_import = time.perf_counter()
    cfg = _gauntlet_config(args.project, args.safety_rows)
    out: dict = {"import_s": t_import - T0}
    t = time.perf_counter()
    with Gauntlet(args.dsn, cfg) as g:
        out["init_s"] = time.perf_counter() - t  # history load + server start/reuse + ping
        t = time.perf_counter()
        if args.mode == "run_all":
            if args.profile:
                import cProfile

                prof = cProfile.Profile()
                report = prof.runcall(g.run_all, raise_on_failure=False)
                prof.dump_stats(args.profile)
            else:
                checks = args.checks.split(",") if args.checks else None
                report = g.run_all(checks, raise_on_failure=False)
            out["run_s"] = time.perf_counter() - t
            out["report_s"] = report.seconds
            out["checks"] = {r.name: [r.status, r.seconds] for r in report.results}
        else:
            status = "passed"
            try:
                getattr(g, f"check_{args.name}")()
            except Exception as exc:  # noqa: BLE001 - reported, not raised
                status = f"{type(exc).__name__}: {str(exc)[:300]}"
            out["run_s"] = time.perf_counter() - t
            out["checks"] = {args.name: [status, out["run_s"]]}
    out["in_process_s"] = time.perf_counter() - T0
    out["maxrss_mb"] = _rss_mb()
    return out


def server_start(args: argparse.Namespace) -> dict:
    from gauntlet_sync import EmbeddedPostgres

    out: dict = {"import_s": time.perf_counter() - T0}
    t = time.perf_counter()
    first = EmbeddedPostgres.shared()
    out["first_start_s"] = time.perf_counter() - t
    reuse = []
    for _ in range(5):
        t = time.perf_counter()
        again = EmbeddedPostgres.shared()
        assert again is first
        reuse.append(time.perf_counter() - t)
    out["reuse_s"] = sorted(reuse)[len(reuse) // 2]
    # what a second Gauntlet in the same process waits for: shared() + a first connection
    import psycopg

    t = time.perf_counter()
    with psycopg.connect(EmbeddedPostgres.shared().dsn) as conn:
        conn.execute("SELECT 1")
    out["reuse_connect_s"] = time.perf_counter() - t
    t = time.perf_counter()
    first.stop()
    out["stop_s"] = time.perf_counter() - t
    out["in_process_s"] = time.perf_counter() - T0
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=("run_all", "check", "server"))
    parser.add_argument("project", nargs="?")
    parser.add_argument("name", nargs="?")
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--patch", action="append", default=[])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--checks", default=None, help="run_all(checks=...), comma-separated")
    parser.add_argument(
        "--safety-rows",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="safety_rows=True / False (default: the library's, on)",
    )
    args = parser.parse_args()
    result = server_start(args) if args.mode == "server" else run_checks(args)
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()

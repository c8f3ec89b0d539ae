#!/usr/bin/env python3
"""Where the embedded server's start and stop time goes, and what two changes would save.

    python benchmarks/server_phases.py [--repeat 5]

Each run is a fresh process (warm initdb cache) that times the phases of
``EmbeddedPostgres.shared()`` and ``stop()`` by wrapping the library's methods. Variants
(prototypes, by monkeypatching; the library's files are untouched):

* ``base``        the library as it is;
* ``file_copy``   the ``test`` database made with ``CREATE DATABASE ... STRATEGY FILE_COPY``
                  (PostgreSQL 15's default WAL_LOG strategy writes the template through WAL);
* ``sigquit``     stop with SIGQUIT (immediate shutdown: no shutdown checkpoint; the data
                  is thrown away anyway) and poll every 10 ms instead of 100 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def child(variant: str) -> dict:
    t0 = time.perf_counter()
    sys.path.insert(0, str(HERE.parent))
    from gauntlet_sync.server import postgres as server
    from gauntlet_sync.server import watchdog

    timings: dict[str, float] = {"import": time.perf_counter() - t0}

    def timed(owner, name, label):  # type: ignore[no-untyped-def]
        original = getattr(owner, name)

        def wrapper(*a, **k):  # type: ignore[no-untyped-def]
            t = time.perf_counter()
            try:
                return original(*a, **k)
            finally:
                timings[label] = timings.get(label, 0.0) + time.perf_counter() - t

        setattr(owner, name, wrapper)

    E = server.EmbeddedPostgres
    timed(server, "find_pg_bin", "find_pg_bin")
    timed(watchdog.Watchdog, "__init__", "watchdog spawn")
    timed(server, "_chown_tree", "chown tree")
    timed(server.testing.postgresql.Postgresql, "setup", "setup (copy cache + chown)")
    timed(E, "wait_booting", "wait_booting")
    timed(E, "poststart", "poststart (CREATE DATABASE test)")
    timed(server.testing.postgresql.Postgresql, "terminate", "stop: terminate")
    timed(server.shutil, "rmtree", "stop: rmtree")
    if "file_copy" in variant:
        from psycopg import sql

        def poststart(self):  # type: ignore[no-untyped-def]
            with self._connect("postgres", autocommit=True) as conn:
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'test'").fetchone():
                    conn.execute(sql.SQL("CREATE DATABASE {} STRATEGY FILE_COPY").format(
                        sql.Identifier("test")))

        E.poststart = poststart
        timed(E, "poststart", "poststart (CREATE DATABASE test)")
    if "sigquit" in variant:
        import signal

        def terminate(self, *args):  # type: ignore[no-untyped-def]
            if self.child_process is None:
                return
            self.child_process.send_signal(signal.SIGQUIT)
            while self.child_process.poll() is None:
                time.sleep(0.01)
            self.child_process = None

        server.testing.postgresql.Postgresql.terminate = terminate
        timed(server.testing.postgresql.Postgresql, "terminate", "stop: terminate")
    t = time.perf_counter()
    pg = E.shared()
    timings["START total"] = time.perf_counter() - t
    import psycopg

    with psycopg.connect(pg.dsn) as conn:  # some work, so the stop has buffers to flush
        conn.execute("CREATE TABLE t AS SELECT g FROM generate_series(1, 200000) g")
    t = time.perf_counter()
    pg.stop()
    timings["STOP total"] = time.perf_counter() - t
    return timings


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        print(json.dumps(child(sys.argv[2])))
        return
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--variants", default="base,file_copy,sigquit")
    args = parser.parse_args()
    from run import wait_quiet

    variants = args.variants.split(",")
    runs: dict[str, list[dict]] = {v: [] for v in variants}
    for _ in range(args.repeat):
        for v in variants:
            wait_quiet()
            t = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--child", v], capture_output=True,
                                 text=True, check=True)
            data = json.loads(out.stdout.strip().splitlines()[-1])
            data["WHOLE PROCESS"] = time.perf_counter() - t
            runs[v].append(data)
    keys = list(dict.fromkeys(k for v in variants for r in runs[v] for k in r))
    print("| phase | " + " | ".join(variants) + " |")
    print("|---" * (len(variants) + 1) + "|")
    for k in keys:
        cells = []
        for v in variants:
            vals = [r[k] for r in runs[v] if k in r]
            cells.append(f"{statistics.median(vals):.3f}" if vals else "")
        print(f"| {k} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

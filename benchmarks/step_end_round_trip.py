#!/usr/bin/env python3
"""What one round trip at a walk step's end costs: the walk's shared lock read
(``step_locks.read``) and safety's own statement after it (``_MARKS_AFTER`` for a step
safety does not judge, ``_PARTIAL_AFTER`` for a judged one), sent apart (two ``execute``
calls, two round trips: safety before 0f3b4d5), together (one ``execute`` of both prepared
statements: one round trip, the server doing the same work), or as one statement (safety's
read with the lock read as a CTE, ``_MARKS_AFTER_LOCKS`` / ``_PARTIAL_AFTER_LOCKS``: what
safety sends now).

    python benchmarks/step_end_round_trip.py [--steps 3000] [--blocks 4]

Runs on the embedded server, in one transaction that altered a table of a 20-table schema
(so the reads see a step's locks and xid), the variants interleaved in blocks. Reports CPU
microseconds per step end: this process (``time.process_time``) and the connection's
backend (``/proc/<pid>/stat`` utime + stime, 10 ms ticks: blocks are long enough).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg  # noqa: E402
from psycopg import sql  # noqa: E402
from psycopg.rows import dict_row  # noqa: E402
from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.pool import NullPool  # noqa: E402

from gauntlet_sync import EmbeddedPostgres, step_locks  # noqa: E402
from gauntlet_sync.checks import safety_catalog  # noqa: E402

SCHEMA = "bench_step_end"
TICK = os.sysconf("SC_CLK_TCK")


def backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3000, help="step ends per block")
    parser.add_argument("--blocks", type=int, default=4)
    args = parser.parse_args()
    server = EmbeddedPostgres.shared()
    engine = create_engine(server.url, poolclass=NullPool)
    with engine.connect() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(text(f"CREATE SCHEMA {SCHEMA}"))
        for i in range(20):
            conn.execute(text(f"CREATE TABLE {SCHEMA}.t{i} (id serial PRIMARY KEY, v text)"))
        conn.commit()
        try:
            measure(conn, args.steps, args.blocks)
        finally:
            conn.rollback()
            conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))
            conn.commit()
    engine.dispose()


def measure(conn: Any, steps: int, blocks: int) -> None:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection)
    pid = raw.info.backend_pid
    conn.execute(text(f"ALTER TABLE {SCHEMA}.t3 ADD COLUMN w int"))  # a step's locks
    marks = safety_catalog._MARKS_AFTER
    partial = safety_catalog._PARTIAL_AFTER
    started = conn.execute(text("SELECT now()::text")).scalar()
    locks = step_locks.read(conn)  # prepares the read
    rels = sorted({oid for oid, _mode, granted in locks.relations if granted})
    params = {"schema": SCHEMA, "started": started, "enum_writes": 0, "rels": rels}
    marks.run(conn, params)  # prepares both
    partial.run(conn, params)

    def execute(statement: Any, values: list[Any]) -> sql.Composed:
        literals = [safety_catalog._literal(v) for v in values]
        arguments = (
            sql.SQL("({})").format(sql.SQL(", ").join(literals)) if literals else sql.SQL("")
        )
        return sql.SQL("EXECUTE {}{}").format(statement.name, arguments)

    read = sql.SQL("EXECUTE {}").format(step_locks.read.name)

    def apart(kind: str) -> None:
        found = step_locks.read(conn)
        held = sorted({oid for oid, _mode, granted in found.relations if granted})
        if kind == "judged":
            partial.run(conn, {**params, "rels": held})
        else:
            marks.run(conn, params)

    def one_trip(kind: str) -> None:
        """Both composed per step, as the walk would (the judged read's relations computed
        on the server from the same rows: here the ones found at the start)."""
        second = (
            execute(partial, [SCHEMA, started, 0, rels])
            if kind == "judged"
            else execute(marks, [started])
        )
        with raw.cursor(row_factory=dict_row) as cur:
            cur.execute(sql.SQL("; ").join([read, second]))
            step_locks.StepLocks.of([tuple(r.values()) for r in cur.fetchall()])
            cur.nextset()
            dict(cur.fetchone() or {})

    def one_statement(kind: str) -> None:
        """What safety sends now: its read with the locks as a CTE (one statement)."""
        statement = (
            safety_catalog._PARTIAL_AFTER_LOCKS
            if kind == "judged"
            else safety_catalog._MARKS_AFTER_LOCKS
        )
        found = statement.run(conn, params)
        found_locks = step_locks.StepLocks.of(found["step_locks"])
        sorted({oid for oid, _mode, granted in found_locks.relations if granted})

    one_statement("judged")  # prepares both
    one_statement("not judged")

    results: dict[tuple[str, str], list[float]] = {}
    for block in range(blocks):
        for kind in ("not judged", "judged"):
            variants = [
                ("two round trips", apart),
                ("one round trip", one_trip),
                ("one statement", one_statement),
            ]
            if block % 2:
                variants.reverse()
            for name, fn in variants:
                py0, pg0 = time.process_time(), backend_cpu(pid)
                for _ in range(steps):
                    fn(kind)
                py, pg = time.process_time() - py0, backend_cpu(pid) - pg0
                per_step = (py + pg) / steps * 1e6
                results.setdefault((kind, name), []).append(per_step)
                print(
                    f"block {block + 1} {kind:10} {name:15}: python {py / steps * 1e6:6.1f} "
                    f"+ server {pg / steps * 1e6:6.1f} = {per_step:6.1f} us per step end",
                    flush=True,
                )
    for kind in ("not judged", "judged"):
        two = statistics.median(results[(kind, "two round trips")])
        one = statistics.median(results[(kind, "one round trip")])
        cte = statistics.median(results[(kind, "one statement")])
        print(
            f"{kind}: median {two:.1f} us (two) vs {one:.1f} us (one round trip): "
            f"{two - one:.1f} us saved per step end; one statement (the CTE, as landed) "
            f"{cte:.1f} us: {two - cte:.1f} us saved"
        )


if __name__ == "__main__":
    main()

# Run inside /work/real-venvs/dagster with PYTHONPATH=<this checkout> (RESULTS.md, disagreement 5).
"""One database, transactional connection, separate commands: the stairway of 63d7a8ec641a
then 1aca709bba64's upgrade (what gauntlet-sync's walk does in sequence)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import child
import psycopg
from alembic import command
from sqlalchemy import create_engine, pool

from gauntlet_sync.server import EmbeddedPostgres

pg = EmbeddedPostgres()
pg.start()
try:
    project = child.load_projects().PROJECTS["dagster"]
    with psycopg.connect(pg.dsn, autocommit=True) as c:
        c.execute("CREATE DATABASE seq")
    url = f"postgresql+psycopg://postgres@/seq?host={pg.socket_dir}&port={pg.port}"
    child.apply_env(project, url)
    eng = create_engine(url, poolclass=pool.NullPool)
    with eng.begin() as conn:
        child.hook(project.prepare)(conn)
    eng.dispose()
    for cmd, target in [
        ("upgrade", "284a732df317"),
        ("upgrade", "63d7a8ec641a"),
        ("downgrade", "-1"),
        ("upgrade", "63d7a8ec641a"),
        ("upgrade", "1aca709bba64"),
    ]:
        cfg = child.alembic_config(project, url)
        e = create_engine(url, poolclass=pool.NullPool)
        try:
            with e.connect() as conn:
                cfg.attributes["connection"] = conn
                getattr(command, cmd)(cfg, target)
                if conn.in_transaction():
                    conn.commit()
            print(cmd, target, "ok", flush=True)
        except Exception as exc:
            print(
                cmd,
                target,
                "FAILED",
                type(exc).__name__,
                str(exc).splitlines()[0][:160],
                flush=True,
            )
            break
        finally:
            e.dispose()
finally:
    pg.stop()

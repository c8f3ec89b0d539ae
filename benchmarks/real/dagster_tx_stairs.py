# Run inside /work/real-venvs/dagster with PYTHONPATH=<this checkout> (RESULTS.md, disagreement 5).
"""The stairway of dagster's disagreeing revisions as separate alembic commands, each on a
plain transactional connection (committed after the command) instead of dagster's AUTOCOMMIT
one: upgrade parent, upgrade R, downgrade parent, upgrade R."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import child
import psycopg
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, pool

from gauntlet_sync.server import EmbeddedPostgres

REVS = sys.argv[1:]
pg = EmbeddedPostgres()
pg.start()
out = {}
try:
    project = child.load_projects().PROJECTS["dagster"]
    for i, rev in enumerate(REVS):
        name = f"txs_{i}"
        with psycopg.connect(pg.dsn, autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        url = f"postgresql+psycopg://postgres@/{name}?host={pg.socket_dir}&port={pg.port}"
        child.apply_env(project, url)
        eng = create_engine(url, poolclass=pool.NullPool)
        with eng.begin() as conn:
            child.hook(project.prepare)(conn)
        eng.dispose()
        script = ScriptDirectory.from_config(child.alembic_config(project, url))
        parent = script.get_revision(rev).down_revision
        steps = [("upgrade", parent), ("upgrade", rev), ("downgrade", parent), ("upgrade", rev)]
        result = "passed"
        for n, (cmd, target) in enumerate(steps):
            cfg = child.alembic_config(project, url)
            e = create_engine(url, poolclass=pool.NullPool)
            try:
                with e.connect() as conn:
                    cfg.attributes["connection"] = conn
                    getattr(command, cmd)(cfg, target)
                    if conn.in_transaction():
                        conn.commit()
            except Exception as exc:
                step = ["reach parent", "upgrade", "downgrade", "re-upgrade"][n]
                first = str(exc).splitlines()[0][:160]
                result = f"{step}: {type(exc).__name__}: {first}"
                break
            finally:
                e.dispose()
        out[rev] = result
        print(rev, result, flush=True)
finally:
    pg.stop()

"""The floor: the same DDL as offline SQL, run through one ``psql`` session.

``write_floor_sql`` renders, with one ``ScriptDirectory`` and the project's own env.py in
offline mode (what ``alembic upgrade/downgrade --sql`` does), per revision r with
predecessor p:

* ``upgrade.sql``   = up(base:r1) + up(r1:r2) + ... (one BEGIN/COMMIT per revision)
* ``downgrade.sql`` = down(rN:rN-1) + ... + down(r1:base)
* ``stairway.sql``  = for each r: up(p:r) + down(r:p) + up(p:r)

Generating the SQL is not timed; running it is (``run_psql``).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.script import ScriptDirectory

_CREATE_VERSION = "CREATE TABLE alembic_version ("


def _offline(ini: Path, script: ScriptDirectory, start: str, dest: str, upgrade: bool) -> str:
    buf = io.StringIO()
    cfg = Config(str(ini), output_buffer=buf)

    def fn(rev, context):  # type: ignore[no-untyped-def]
        if upgrade:
            return script._upgrade_revs(dest, start)
        return script._downgrade_revs(dest, start)

    with EnvironmentContext(
        cfg, script, fn=fn, as_sql=True, starting_rev=start, destination_rev=dest,
        tag=None,
    ):
        script.run_env()
    return buf.getvalue()


def write_floor_sql(project: Path, out: Path) -> dict[str, Path]:
    ini = Path(project) / "alembic.ini"
    out.mkdir(parents=True, exist_ok=True)
    script = ScriptDirectory.from_config(Config(str(ini)))
    revs = [r.revision for r in reversed(list(script.walk_revisions("base", "heads")))]
    ups, downs, stairs = [], [], []
    for i, rev in enumerate(revs):
        prev = revs[i - 1] if i else "base"
        # From base, offline mode creates alembic_version; downgrading to base in offline
        # mode never drops it, so the stairway's re-upgrade must tolerate it.
        up = _offline(ini, script, prev, rev, True).replace(
            _CREATE_VERSION, "CREATE TABLE IF NOT EXISTS alembic_version ("
        )
        down = _offline(ini, script, rev, prev, False)
        ups.append(up)
        downs.append(down)
        stairs += [f"-- {i}: up {rev}\n", up, f"-- down {rev}\n", down, f"-- up {rev}\n", up]
    files = {
        "upgrade": out / "upgrade.sql",
        "downgrade": out / "downgrade.sql",
        "stairway": out / "stairway.sql",
    }
    files["upgrade"].write_text("".join(ups))
    files["downgrade"].write_text("".join(reversed(downs)))
    files["stairway"].write_text("".join(stairs))
    return files


def psql_command(socket_dir: Path, port: int, database: str, sql_file: Path) -> list[str]:
    return [
        "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
        "-h", str(socket_dir), "-p", str(port), "-U", "postgres", "-d", database,
        "-f", str(sql_file),
    ]


def run_psql(socket_dir: Path, port: int, database: str, sql_file: Path) -> None:
    subprocess.run(
        psql_command(socket_dir, port, database, sql_file),
        check=True, stdout=subprocess.DEVNULL,
    )

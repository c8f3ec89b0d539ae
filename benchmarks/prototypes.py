"""Prototype optimisations, applied by monkeypatching (``child.py --patch NAME``).

Nothing here changes gauntlet_sync's files; each patch is measured by ``experiments.py``
and the change it stands for is written up in RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Callable

PATCHES: dict[str, Callable[[], None]] = {}


def patch(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        PATCHES[name] = fn
        return fn

    return register


def apply(name: str) -> None:
    PATCHES[name]()


@patch("onetx")
def _onetx() -> None:
    """Informative, NOT a valid change: every walk in one transaction (no per-step commit).

    The library commits after each stairway/downgrade step since 74c67d0 (an enum value
    added by one step must be usable by the next); this measures what those commits cost.
    """
    from gauntlet_sync.checks import walks

    original = walks.walk

    def walk(*args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["commit_each_step"] = False
        return original(*args, **kwargs)

    walks.walk = walk


# --- no_trace: how much do the catalog snapshots cost? -------------------------------------


@patch("notrace")
def _notrace() -> None:
    """Lower bound, NOT a valid change: the walk group without the snapshots."""
    from gauntlet_sync import gauntlet

    original = gauntlet.Gauntlet._stairway

    def stairway(self, session, *, trace):  # type: ignore[no-untyped-def]
        return original(self, session, trace=False)

    gauntlet.Gauntlet._stairway = stairway  # type: ignore[method-assign]


# Digest first: the before-upgrade snapshot stays on the server (a temp table, one row set
# per snapshot, id'd), the client only gets its md5; after the downgrade only the md5 is
# fetched. Only on a mismatch are both full row sets read, and Snapshot.diff makes the very
# same lines as before (same rows, same order), so the verdicts are unchanged.
_TEMP = "pg_temp.gauntlet_sync_trace_rows"


def _digest_sql(store: bool) -> str:
    from gauntlet_sync import snapshot

    body = snapshot._SNAPSHOT_SQL.text.strip()
    body = body.rsplit("ORDER BY", 1)[0]  # the CTEs + the UNION ALL, unordered
    head, union = body.split("\nSELECT kind, name, definition FROM (", 1)
    objects = "objects AS (SELECT kind, name, definition FROM (" + union.strip()
    objects = objects.rsplit(") AS objects", 1)[0] + ") AS o)"
    sql = head.rstrip() + ",\n" + objects
    if store:
        sql += (
            f",\nkept AS (INSERT INTO {_TEMP} SELECT :id, kind, name, definition FROM objects)"
        )
    sql += (
        "\nSELECT md5(coalesce(string_agg(kind || chr(1) || name || chr(1) || coalesce(definition, chr(3)),"
        " chr(2) ORDER BY kind, name, definition), '')) FROM objects"
    )
    return sql


@patch("digest")
def _digest() -> None:
    from sqlalchemy import text

    from gauntlet_sync import snapshot
    from gauntlet_sync.checks import walks

    store_sql = text(_digest_sql(store=True))
    digest_sql = text(_digest_sql(store=False))
    rows_sql = text(
        f"SELECT kind, name, definition FROM {_TEMP} WHERE id = :id ORDER BY kind, name, definition"
    )

    class DigestWatch(walks.TraceWatch):
        def __init__(self, session, skip_tables):  # type: ignore[no-untyped-def]
            super().__init__(session, skip_tables)
            self._id = 0
            self._before: str | None = None
            self._ready = False

        def _params(self) -> dict:
            return {"schema": self.schema, "skip": sorted(self.skip), "id": self._id}

        def before(self, step, conn):  # type: ignore[no-untyped-def]
            if step.label != "upgrade":
                return
            if not self._ready:
                conn.execute(text(
                    f"CREATE TEMP TABLE IF NOT EXISTS {_TEMP[8:]} "
                    "(id int, kind text, name text, definition text)"
                ))
                self._ready = True
            self._id += 1
            self._before = conn.execute(store_sql, self._params()).scalar()

        def after(self, step, conn):  # type: ignore[no-untyped-def]
            if step.label != "downgrade" or self._before is None:
                return
            if conn.execute(digest_sql, self._params()).scalar() == self._before:
                return
            before = snapshot.Snapshot(tuple(
                (str(k), str(n), str(d)) for k, n, d in conn.execute(rows_sql, {"id": self._id})
            ))
            lines = before.diff(self._take(conn))
            if lines:
                self.traces[step.revision] = lines

    walks.TraceWatch = DigestWatch  # type: ignore[misc]

"""The reference: gauntlet-sync's walks made of separate ``alembic`` commands.

This is what a person would do by hand, one ``alembic upgrade`` / ``alembic downgrade`` at
a time: every step builds a fresh ``Config`` from its ini file, through which
``alembic.command`` builds a fresh ``ScriptDirectory`` (re-importing every revision file),
runs env.py, connects anew (env.py builds its own engine from ``sqlalchemy.url``), runs
the one step and commits. Nothing is shared between steps but the database. Slow on
purpose: it is the definition gauntlet-sync's verdicts are held to
(tests/test_differential.py).

It imports nothing from gauntlet_sync: the isolated schema, the commands, the catalog read
behind no_trace and the verdicts are its own. Only the walk order (a valid dependency
order, checked here) is an input, since a walk in another valid order may meet another
failure first.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import psycopg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from psycopg import sql
from sqlalchemy.engine import URL, make_url


@dataclasses.dataclass(frozen=True)
class Verdict:
    """One walk's outcome, in the terms gauntlet-sync reports."""

    status: str  # passed | failed | error
    revision: str | None = None
    step: str | None = None
    message: str = ""


# Everything a downgrade can leave behind in one schema, read as plainly as possible.
_CATALOG_SQL = r"""
SELECT 'relation', n.nspname || '.' || c.relname,
       c.relkind::text || ' ' || c.relpersistence::text
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relname NOT IN ('alembic_version', 'alembic_version_pkc')
UNION ALL
SELECT 'column', n.nspname || '.' || c.relname || '.' || a.attname,
       format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull::text || ' '
       || coalesce(pg_get_expr(d.adbin, d.adrelid), '') || ' ' || a.attidentity::text
       || ' ' || a.attgenerated::text || ' ' || coalesce(col_description(c.oid, a.attnum), '')
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE n.nspname = ANY(%(schemas)s) AND a.attnum > 0 AND NOT a.attisdropped
  AND c.relname NOT IN ('alembic_version', 'alembic_version_pkc')
UNION ALL
SELECT 'index', n.nspname || '.' || c.relname, pg_get_indexdef(c.oid)
FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relname <> 'alembic_version_pkc'
UNION ALL
SELECT 'constraint', n.nspname || '.' || t.relname || '.' || con.conname,
       pg_get_constraintdef(con.oid)
FROM pg_constraint con JOIN pg_class t ON t.oid = con.conrelid
JOIN pg_namespace n ON n.oid = t.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.relname <> 'alembic_version'
UNION ALL
SELECT 'type', n.nspname || '.' || t.typname,
       t.typtype::text || ' ' || coalesce((SELECT string_agg(e.enumlabel, ',' ORDER BY
       e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid), '')
FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
WHERE n.nspname = ANY(%(schemas)s) AND t.typtype IN ('e', 'd', 'r', 'm')
UNION ALL
SELECT 'sequence', n.nspname || '.' || c.relname,
       s.seqstart::text || ' ' || s.seqincrement::text || ' ' || s.seqmax::text
FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s)
UNION ALL
SELECT 'view', n.nspname || '.' || c.relname, pg_get_viewdef(c.oid)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND c.relkind IN ('v', 'm')
UNION ALL
SELECT 'function', n.nspname || '.' || p.proname || '('
       || pg_get_function_identity_arguments(p.oid) || ')', md5(pg_get_functiondef(p.oid))
FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
WHERE n.nspname = ANY(%(schemas)s) AND p.prokind IN ('f', 'p')
UNION ALL
SELECT 'trigger', n.nspname || '.' || c.relname || '.' || tg.tgname, pg_get_triggerdef(tg.oid)
FROM pg_trigger tg JOIN pg_class c ON c.oid = tg.tgrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND NOT tg.tgisinternal
UNION ALL
SELECT 'comment', n.nspname || '.' || c.relname, obj_description(c.oid, 'pg_class')
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = ANY(%(schemas)s) AND obj_description(c.oid, 'pg_class') IS NOT NULL
UNION ALL
SELECT 'extension', e.extname, e.extversion FROM pg_extension e
JOIN pg_namespace n ON n.oid = e.extnamespace WHERE n.nspname = ANY(%(schemas)s)
"""

# The schemas of a whole database that belong to the migrations (isolation="database").
_USER_SCHEMAS_SQL = """
SELECT nspname FROM pg_namespace
WHERE nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
  AND nspname NOT LIKE 'pg\\_temp\\_%%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%%'
"""


@dataclasses.dataclass
class _Target:
    """The reference's isolated schema (or database) and its observing connection."""

    url: URL
    schemas: list[str]
    observer: psycopg.Connection[Any]


def _libpq(url: URL) -> str:
    """A libpq URL for psycopg (no driver suffix)."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class Reference:
    """Walk one history with separate alembic commands on ``server_url``.

    ``make_config`` returns a fresh ``Config`` each time it is called (as the ``alembic``
    command line reads alembic.ini anew); the reference sets its ``sqlalchemy.url``.
    ``isolation`` is ``"schema"`` (a schema pinned through ``search_path``) or
    ``"database"`` (a whole database; every non-system schema in it is compared).
    """

    def __init__(
        self,
        make_config: Callable[[], Config],
        server_url: str | URL,
        order: Sequence[str],
        *,
        isolation: str = "schema",
        irreversible: frozenset[str] = frozenset(),
    ) -> None:
        self.make_config = make_config
        self.server = make_url(server_url) if isinstance(server_url, str) else server_url
        self.isolation = isolation
        self.irreversible = irreversible
        self.script = ScriptDirectory.from_config(make_config())
        self.order = list(order)
        self._check_order()

    def _check_order(self) -> None:
        seen: set[str] = set()
        for rev in self.order:
            script = self.script.get_revision(rev)
            assert script is not None
            needs = set(script._normalized_down_revisions) | set(
                script._normalized_resolved_dependencies
            )
            assert needs <= seen, f"{rev} comes before {needs - seen}"
            seen.add(rev)
        assert seen == {r.revision for r in self.script.walk_revisions()}

    # -- the isolated target --------------------------------------------------------

    @contextlib.contextmanager
    def _target(self) -> Iterator[_Target]:
        name = "ref_" + secrets.token_hex(6)
        with psycopg.connect(_libpq(self.server), autocommit=True) as admin:
            if self.isolation == "database":
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                url = self.server.set(database=name)
            else:
                admin.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(name)))
                url = self.server.update_query_dict({"options": f"-csearch_path={name}"})
            try:
                # one connection of the reference's own reads the catalog and the version
                # table between the commands (it changes nothing)
                with psycopg.connect(_libpq(url), autocommit=True) as observer:
                    yield _Target(url, [name], observer)
            finally:
                if self.isolation == "database":
                    admin.execute(
                        sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name))
                    )
                else:
                    admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(name)))

    def _catalog(self, target: _Target) -> frozenset[tuple[str, str, str]]:
        conn = target.observer
        schemas = target.schemas
        if self.isolation == "database":
            schemas = [row[0] for row in conn.execute(_USER_SCHEMAS_SQL)]
        rows = conn.execute(_CATALOG_SQL, {"schemas": schemas}).fetchall()
        return frozenset((str(k), str(n), str(d)) for k, n, d in rows)

    def _heads(self, target: _Target) -> set[str]:
        """The revisions the version table lists (what ``alembic current`` shows)."""
        conn = target.observer
        if conn.execute("SELECT to_regclass('alembic_version')").fetchone() == (None,):
            return set()
        return {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}

    # -- one alembic command ---------------------------------------------------------

    def _command(self, target: _Target, fn: Callable[..., Any], destination: str) -> str | None:
        """Run ``alembic <fn> <destination>`` as its own command; the error's text, if any."""
        config = self.make_config()
        config.set_main_option(
            "sqlalchemy.url", target.url.render_as_string(hide_password=False).replace("%", "%%")
        )
        config.attributes.pop("connection", None)
        try:
            fn(config, destination)
        except Exception as exc:  # noqa: BLE001 - the verdict is the failure
            return f"{type(exc).__name__}: {exc}"
        return None

    def _down_target(self, rev: str, heads: set[str]) -> str:
        """The ``alembic downgrade`` argument a person would type to undo ``rev`` alone
        (it is a head): ``-1`` on a linear history, ``<rev>@-1`` beside other heads, one
        of the parents for a merge point (the others stay applied)."""
        script = self.script.get_revision(rev)
        assert script is not None
        parents = script._normalized_down_revisions
        if len(parents) > 1:
            return parents[0]
        return "-1" if heads == {rev} else f"{rev}@-1"

    def _up(self, target: _Target, rev: str) -> str | None:
        return self._command(target, command.upgrade, rev)

    def _down(self, target: _Target, rev: str) -> str | None:
        heads = self._heads(target)
        error = self._command(target, command.downgrade, self._down_target(rev, heads))
        if error is None:
            # The command must have undone exactly ``rev``: else the reference walked
            # somewhere else and its verdict would not be about this step.
            script = self.script.get_revision(rev)
            assert script is not None
            expected = (heads - {rev}) | set(script._normalized_down_revisions)
            expected = {h for h in expected if not self._below(h, expected - {h})}
            found = self._heads(target)
            # alembic may take a depends_on revision down with the one asked for; a person
            # would upgrade it again, and so does the reference (it passed its stairway).
            for missing in sorted(expected - found):
                error = self._command(target, command.upgrade, missing)
                if error is not None:
                    return error
            found = self._heads(target)
            assert found == expected, f"downgrade of {rev}: heads {found}, expected {expected}"
        return error

    def _below(self, rev: str, others: set[str]) -> bool:
        """``rev`` is an ancestor (down_revision or depends_on) of one of ``others``."""
        return any(
            rev in {r.revision for r in self.script.iterate_revisions(o, "base")}
            for o in others
        )

    # -- the walks ---------------------------------------------------------------------

    def stairway(self, *, trace: bool = False, start: str | None = None) -> tuple[Verdict, Verdict]:
        """Every revision: upgrade, downgrade, upgrade again. Returns the stairway's
        verdict and no_trace's (catalog before each upgrade = catalog after its downgrade;
        the first revision with a difference is the one named). ``start``: first one
        ``alembic upgrade <start>`` (a part's start state, changed_since), then the
        revisions after it (``None`` when that command fails: no verdict on them)."""
        failure: Verdict | None = None
        traces: list[tuple[str, list[str]]] = []
        compared: set[str] = set()
        order = self.order
        with self._target() as target:
            if start is not None:
                error = self._up(target, start)
                if error is not None:
                    return Verdict("error", start, "start", error), Verdict("error", start)
                order = order[order.index(start) + 1 :]
            for rev in order:
                reversible = rev not in self.irreversible
                before = self._catalog(target) if trace and reversible else None
                steps = [("upgrade", self._up)]
                if reversible:
                    steps += [("downgrade", self._down), ("re-upgrade", self._up)]
                for label, run in steps:
                    error = run(target, rev)
                    if error is not None:
                        failure = Verdict("failed", rev, label, error)
                        break
                    if label == "downgrade" and before is not None:
                        after = self._catalog(target)
                        compared.add(rev)
                        if after != before:
                            lines = sorted(f"- {r}" for r in before - after)
                            lines += sorted(f"+ {r}" for r in after - before)
                            traces.append((rev, lines))
                if failure is not None:
                    break
        stairway = failure or Verdict("passed")
        if traces:
            rev, lines = traces[0]
            no_trace = Verdict("failed", rev, "downgrade", "\n".join(lines))
        elif failure is not None and not (set(order) - self.irreversible) <= compared:
            no_trace = Verdict("error", failure.revision, failure.step, failure.message)
        else:
            no_trace = Verdict("passed")
        return stairway, no_trace

    def downgrade_to_base(self) -> Verdict:
        """``alembic upgrade heads``, then one ``alembic downgrade`` per revision."""
        with self._target() as target:
            error = self._command(target, command.upgrade, "heads")
            if error is not None:
                return Verdict("error", message=error)
            for rev in reversed(self.order):
                if rev in self.irreversible:
                    continue
                error = self._down(target, rev)
                if error is not None:
                    return Verdict("failed", rev, "downgrade", error)
        return Verdict("passed")

    def upgrade(self) -> Verdict:
        """``alembic upgrade heads`` on a fresh target."""
        with self._target() as target:
            error = self._command(target, command.upgrade, "heads")
        return Verdict("failed", message=error) if error else Verdict("passed")

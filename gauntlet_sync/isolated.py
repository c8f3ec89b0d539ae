"""``IsolatedDatabase``: write your own migration tests around specific revisions.

Built-in checks catch structural mistakes; data migrations and migrations that break on
non-empty tables need tests that put rows in at one revision and look at them at another.
This is the handle for that: a fresh isolated schema, moved up and down the history
through the project's env.py, with a connection whose ``search_path`` is the schema.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from alembic.script.revision import RevisionError
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.engine import Connection

from . import _compat, walks
from .errors import ConfigError
from .session import MigrationSession, Step


class IsolatedDatabase:
    """One isolated schema and the moves a test makes on it."""

    def __init__(self, session: MigrationSession) -> None:
        self._session = session
        self._history = session.history

    @property
    def schema(self) -> str:
        """The isolated schema's name (dropped when the ``isolated()`` block ends)."""
        return self._session.target.schema

    @property
    def connection(self) -> Connection:
        """A connection whose ``search_path`` is the isolated schema."""
        return self._session.connection

    # -- moving through the history -----------------------------------------------------

    def current_revision(self) -> str | tuple[str, ...] | None:
        """``None`` at base, the revision id, or a tuple when several heads are current."""
        heads = self._session.current_heads()
        if not heads:
            return None
        return heads[0] if len(heads) == 1 else tuple(sorted(heads))

    def upgrade(self, revision: str = "heads") -> None:
        """Upgrade to ``revision`` (an id, ``heads``, ``+1``...)."""
        self._upgrade_from(self._session.current_heads(), revision)

    def downgrade(self, revision: str = "-1") -> None:
        """Downgrade to ``revision`` (an id, ``base``, ``-1``...).

        ``-N`` undoes the current head revision N times, also across a merge point,
        where alembic's own relative walk is ambiguous.
        """
        relative = re.fullmatch(r"-(\d+)", revision)
        if relative:
            for _ in range(int(relative.group(1))):
                self._undo_head()
            return
        self._downgrade_from(self._session.current_heads(), revision)

    # Each public move reads the current heads once (a run of env.py) and hands them on.

    def _upgrade_from(self, heads: Any, revision: str) -> None:  # alembic takes the tuple
        script = self._history.script
        planned = self._plan(lambda: _compat.upgrade_steps(script, revision, heads), revision)
        self._run(planned, "upgrade")

    def _downgrade_from(self, heads: Any, revision: str) -> None:
        planned = self._plan(
            lambda: _compat.downgrade_steps(self._history.script, revision, heads or None), revision
        )
        self._run(planned, "downgrade")

    def _undo_head(self) -> None:
        heads = self._session.current_heads()
        if len(heads) != 1:
            raise ConfigError(
                f"Cannot step down one revision from {len(heads)} heads "
                f"({', '.join(heads) or 'base'}); name the revision to downgrade to."
            )
        self._run([Step(heads[0], "downgrade", "downgrade")], "downgrade")

    def migrate_to(self, revision: str) -> None:
        """Upgrade or downgrade, whichever way ``revision`` lies from here."""
        if revision == "base":
            self.downgrade("base")
            return
        targets = set(self._history.resolve(revision))
        heads = self._session.current_heads()
        applied = self._history.ancestors(heads)
        if targets <= applied:
            if targets != set(heads):
                self._downgrade_from(heads, revision)
            return
        self._upgrade_from(heads, revision)

    def _plan(self, make: Any, revision: str) -> list[Step]:
        try:
            planned = make()
        except (CommandError, RevisionError) as exc:
            raise ConfigError(f"Cannot move to revision {revision!r}: {exc}") from exc
        return [
            Step(s.revision.revision, "upgrade" if s.is_upgrade else "downgrade", s.name)
            for s in planned
        ]

    def _run(self, steps: list[Step], kind: str) -> None:
        outcome = walks.walk(self._session, steps, name=kind)
        if outcome.failure is None:
            return
        if outcome.failure.step.is_upgrade:
            raise walks.upgrade_error(self._history, outcome.failure)
        raise walks.downgrade_error(self._history, outcome.failure)

    # -- data --------------------------------------------------------------------------

    def insert(self, table: str, rows: Sequence[Mapping[str, Any]]) -> None:
        """Insert ``rows`` (dicts of column values) into ``table`` and commit."""
        with self._committing() as conn:
            self._session.insert_rows(conn, table, rows)

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows of a query as plain tuples."""
        with self._committing() as conn:
            return [tuple(row) for row in conn.execute(text(sql), dict(params or {}))]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run a statement and commit."""
        with self._committing() as conn:
            conn.execute(text(sql), dict(params or {}))

    @contextlib.contextmanager
    def _committing(self) -> Iterator[Connection]:
        conn = self.connection
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()

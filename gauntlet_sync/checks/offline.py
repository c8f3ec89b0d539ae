"""offline: every revision renders as SQL in alembic's offline mode (``upgrade --sql``).

Teams that hand SQL scripts to their DBAs run ``alembic upgrade --sql``: env.py's offline
branch, no database. A revision that needs a live connection there (reads rows through
``op.get_bind()``, reflects tables with ``sa.inspect``) cannot render: in offline mode
``op.get_bind()`` is a mock that prints statements and returns nothing to read.

The check renders the whole history once (one env.py run, as ``alembic upgrade --sql
base:heads``) and names every revision whose upgrade raised while rendering, with the
line of the revision file that made the call. Off by default: a team that runs its
migrations online legitimately reads rows in data migrations. Turn it on with
``GauntletConfig(extra_checks=["offline"])``, ``--check offline`` or ``run_all(["offline"])``.
"""

from __future__ import annotations

import linecache
import os
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ..errors import MigrationEnvironmentError, OfflineRenderError
from ..history import History
from ..walks import describe_revision
from .base import HistoryCheck

if TYPE_CHECKING:
    from ..context import RunContext

#: what a call in the failing line tells about why it needs a database.
_NEEDS = (
    ("get_bind", "it reads through op.get_bind(), which is a mock without a connection"),
    ("inspect", "it reflects the database (sa.inspect), which offline mode has not got"),
    ("reflect", "it reflects the database, which offline mode has not got"),
)
_FIX = (
    "render the data change as SQL instead (op.execute(sa.text(...)) or an UPDATE ... "
    "SELECT), or branch on op.get_context().as_sql"
)


def call_site(history: History, revision: str, exc: BaseException) -> str:
    """``file:line: source`` of the deepest frame in the revision's own file (the call that
    failed), or ``""`` when the revision file is not on the traceback."""
    path = getattr(history.get(revision), "path", None)
    if not path:
        return ""
    wanted = os.path.realpath(path)
    found = ""
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.realpath(frame.filename) == wanted:
            source = (frame.line or linecache.getline(frame.filename, frame.lineno or 0)).strip()
            found = f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}(): {source}"
    return found


def problem(history: History, revision: str, exc: BaseException) -> str:
    """One revision's line: where, what it raised, why it needs a database, the fix."""
    site = call_site(history, revision, exc)
    why = next((reason for word, reason in _NEEDS if word in site), "")
    raised = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
    return (
        f"revision {describe_revision(history, revision)} cannot render offline"
        + (f" at {site}" if site else "")
        + f" ({raised})"
        + (f": {why}; {_FIX}" if why else "")
    )


class Offline(HistoryCheck):
    name = "offline"
    test_method = "test_migrations_render_offline"
    error = OfflineRenderError
    default = False
    needs_revisions = True

    def run(self, ctx: RunContext) -> Sequence[str] | None:
        # In an isolated session all the same: an env.py without an offline branch
        # connects anyway, and must land in the throwaway target.
        with ctx.session() as session:
            try:
                _sql, failures = session.render_offline()
            except MigrationEnvironmentError as exc:
                raise OfflineRenderError(
                    f"env.py cannot render the migrations offline (alembic upgrade --sql): {exc}",
                    problems=[str(exc)],
                ) from exc
        if failures:
            count = len(failures)
            raise OfflineRenderError.listing(
                f"{count} revision{'s' if count != 1 else ''} cannot render as SQL in "
                "offline mode (alembic upgrade --sql)",
                [problem(ctx.history, rev, exc) for rev, exc in failures],
                revision=failures[0][0],
                step="upgrade",
            )
        return None


CHECK = Offline()

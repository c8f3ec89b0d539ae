"""``Gauntlet``: the blocking façade. Each public method is short and delegates.

The object owns one engine, the alembic config and the revision history (loaded once).
A check called on its own (``check_<name>()``) runs in its own isolated schema; ``run_all``
shares the upgrade among the head-state checks and one walk among the walk checks, and
forks where it may (:mod:`gauntlet_sync.scheduler`). The checks themselves live in
:mod:`gauntlet_sync.checks`, the isolated schemas in :mod:`gauntlet_sync.workspace`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator

from sqlalchemy import Engine, MetaData
from sqlalchemy.engine import URL

from . import database, handover, janitor, scheduler, scope
from .config import GauntletConfig, load_alembic_config, resolve_metadata
from .context import ProgressEvent, RunContext
from .dsn import mask
from .errors import GauntletFailed
from .history import History
from .isolated import IsolatedDatabase
from .report import Report
from .scope import WalkScope
from .workspace import Workspace

__all__ = ["Gauntlet", "ProgressEvent"]


class Gauntlet:
    """Puts one Alembic history through the checks against one PostgreSQL.

    ``dsn=None`` uses the process-wide embedded server. Use it as a context manager (or
    call :meth:`close`) so the engine is disposed.
    """

    def __init__(
        self,
        dsn: str | URL | None = None,
        config: GauntletConfig | None = None,
        *,
        progress: Callable[[ProgressEvent], None] | None = None,
    ) -> None:
        self.config = config if config is not None else GauntletConfig()
        self.progress = progress
        self.alembic_config = load_alembic_config(self.config)
        # The embedded server starts while the history, models and git are read.
        early = database.EarlyServer() if dsn is None else None
        try:
            self._load(dsn)
            self.url = database.resolve(dsn, self.config.connect_timeout, early)
        finally:
            if early is not None:
                early.join(quiet=True)  # after an error of ours: that error is the one to see
        self.engine: Engine = database.open_engine(self.url)
        self.workspace = Workspace(
            self.engine, self.url, self.config, self.history, self.alembic_config, self.driver
        )
        # A database the user gave holds the user's data: every commit is checked for
        # changes outside the run's own schemas (outside.py). The embedded server is ours.
        self.workspace.guarded = dsn is not None

    def _load(self, dsn: str | URL | None) -> None:
        """The history, the models, the part to walk and the driver (no database yet)."""
        self.history = History(self.alembic_config)
        self._metadata: MetaData | None = resolve_metadata(self.config.metadata)
        # Revisions the walks never step down (a typed error if the floor is unknown).
        self._irreversible = self.history.irreversible(self.config.minimum_downgrade_revision)
        #: the part of the history the walks cover (``None``: all of it): changed_since,
        #: shard (scope.py); git is asked here, so a bad ref fails before anything runs.
        self.scope: WalkScope | None = scope.plan(
            self.history,
            self.alembic_config,
            changed_since=self.config.changed_since,
            shard=self.config.shard,
            timings=(
                scope.read_timings(self.config.shard_timings)
                if self.config.shard_timings is not None and self.config.shard is not None
                else None
            ),
        )
        if self.scope is not None:  # downgrade_to_base leaves unchanged revisions alone
            self._irreversible |= self.scope.unchanged
        #: the driver migrations run on: the DSN's or sqlalchemy.url's +driver, else psycopg
        self.driver = handover.resolve_driver(dsn, self.alembic_config)

    # -- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> Gauntlet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Dispose of the engine (its pooled connections); the ``with`` block's end does it."""
        self.engine.dispose()

    @property
    def target(self) -> str:
        """The database in use, password masked."""
        return mask(self.url)

    def _context(self) -> RunContext:
        """What the checks are handed; ``progress`` is read now (it may be reassigned)."""
        return RunContext(
            self.config,
            self.history,
            self._metadata,
            self._irreversible,
            self.workspace,
            self.progress,
            self.scope,
        )

    def _check(self, name: str) -> list[str]:
        return scheduler.run_alone(self._context(), name)

    # -- the checks, one at a time (each in its own isolated schema) ----------------------

    def check_single_head(self) -> None:
        """The history has one head (``alembic upgrade head`` needs it)."""
        self._check("single_head")

    def check_upgrade(self) -> None:
        """Base to heads in one transaction, as ``alembic upgrade heads`` on a fresh database."""
        self._check("upgrade")

    def check_stairway(self) -> None:
        """Upgrade, downgrade and upgrade again, revision by revision."""
        self._check("stairway")

    def check_downgrade_to_base(self) -> None:
        """After the upgrade, down to base (or ``minimum_downgrade_revision``)."""
        self._check("downgrade_to_base")

    def check_models_match(self) -> None:
        """The models equal the upgraded schema, as autogenerate compares them."""
        self._check("models_match")

    def check_check_constraints(self) -> None:
        """The models' CHECK constraints are in the upgraded schema, and no others."""
        self._check("check_constraints")

    def check_enums(self) -> None:
        """Native enum types carry the models' labels, in order."""
        self._check("enums")

    def check_naming(self) -> list[str]:
        """Names in the database are the models' (or follow ``naming_rules``); raises on
        those that differ, returns the warnings (explicit names in the models that break
        their own naming_convention)."""
        return self._check("naming")

    def check_isolation(self) -> None:
        """The migrations touch nothing outside the isolated schema."""
        self._check("isolation")

    def check_no_trace(self) -> None:
        """Each downgrade leaves the catalog as it was before its upgrade."""
        self._check("no_trace")

    def check_safety(self) -> list[str]:
        """No revision rewrites, scans or builds an index on a table that existed before
        it under a blocking lock (observed on the server); raises on the findings of
        ``safety_fail_on``'s rules, returns the others as warnings."""
        return self._check("safety")

    def check_offline(self) -> None:
        """Every revision renders as SQL in alembic's offline mode (``upgrade --sql``);
        not in run_all's default set (``extra_checks=["offline"]`` adds it)."""
        self._check("offline")

    # -- run_all ------------------------------------------------------------------------

    def run_all(
        self,
        checks: Iterable[str] | None = None,
        *,
        skip: Iterable[str] = (),
        raise_on_failure: bool = True,
    ) -> Report:
        """Run the selected checks (when ``None``: the default set plus the config's
        ``extra_checks``), sharing work, and report each."""
        selected = scheduler.select(checks, skip, self.config.extra_checks)
        started = time.perf_counter()
        context = self._context()
        results = scheduler.run_all(context, selected)
        report = Report(
            results=[results[n] for n in selected if n in results],
            seconds=time.perf_counter() - started,
            target=self.target,
            scope=self.scope,
            revision_seconds=dict(context.walk_seconds),
        )
        if raise_on_failure and not report.ok:
            bad = report.by_status("failed", "error")
            raise GauntletFailed(
                f"{len(bad)} of {len(report.results)} checks did not pass:\n"
                + "\n".join(f"  - {r.name} ({r.status}): {r.summary}" for r in bad)
                + "\n\n"
                + str(report),
                report=report,
                errors=[r.error for r in bad if r.error is not None],
            )
        return report

    # -- writing your own tests ---------------------------------------------------------

    @contextlib.contextmanager
    def isolated(self) -> Iterator[IsolatedDatabase]:
        """A fresh isolated schema at base for a hand-written test; dropped afterwards."""
        with self.workspace.session() as session:
            yield IsolatedDatabase(session)

    def revisions(self) -> list[str]:
        """Revision ids from base to heads, in dependency order."""
        return list(self.history.ids)

    def heads(self) -> list[str]:
        """The history's head revision ids (one, unless ``single_head`` fails)."""
        return list(self.history.heads)

    def cleanup_stale(
        self, older_than: float = 3600.0, *, on_skip: Callable[[str], None] | None = None
    ) -> list[str]:
        """Drop leftovers of killed gauntlet runs (only ours, only old, only orphaned);
        what cannot be dropped goes to ``on_skip`` (default: a warning)."""
        return janitor.cleanup_stale(
            self.engine,
            older_than=older_than,
            prefix=self.config.schema_prefix,
            on_skip=on_skip,
        )

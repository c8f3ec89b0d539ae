"""The mixin's shared run: every enabled check at once, each test waiting for its own.

``run_all`` shares upgrades and walks between the checks, so the checks of a
:class:`~gauntlet_sync.GauntletMixin` class run together. Run inside the first test, the
whole run would be that test's time: ``--durations`` and JUnit would blame it for
everything. So the run goes to a forked child, started by the first check test, which
sends each check's result as soon as the check ends; each test waits only until its own
result is there, and so carries its own share of the time. Where there is no fork to be
had (see :mod:`gauntlet_sync.forked`), the first test runs ``run_all`` itself, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine

from . import forked
from .errors import GauntletError
from .gauntlet import Gauntlet
from .report import CheckResult

__all__ = ["SharedRun"]

#: how long a run that sent every result may take to drop its schemas before it is stopped.
CLEANUP_SECONDS = 60.0


class SharedRun:
    """``run_all`` of ``checks`` on ``gauntlet``, its results read one at a time."""

    def __init__(self, gauntlet: Gauntlet, checks: Sequence[str]) -> None:
        self.gauntlet = gauntlet
        self.checks = list(checks)
        self.results: dict[str, CheckResult] = {}
        self.error: GauntletError | None = None
        self.done = False
        self.child: forked.Child | None = None
        if gauntlet.config.parallel and forked.possible():
            self.child = forked.start(self._child_body)

    def result(self, name: str) -> CheckResult:
        """Check ``name``'s result; waits until the run has it (raises what stopped the run)."""
        while name not in self.results and self.error is None and not self.done:
            if self.child is None:
                self._run_here()
            else:
                self._receive()
        if self.error is not None:
            raise self.error.with_traceback(None)
        if name not in self.results:
            raise GauntletError(
                f"The shared gauntlet run ended without a result for {name} (its process "
                "died?); run the tests again, or set gauntlet_share_run = False."
            )
        return self.results[name]

    def stop(self) -> None:
        """End the run's process if it is still at work (the test class is done).

        A run that has sent every check's result is only dropping its schemas (the head
        state's is dropped after the walk's results went out): it is let finish, within
        :data:`CLEANUP_SECONDS`. Interrupted then, its ``DROP SCHEMA`` was cancelled and
        the schema left behind (a suite's test teardown found it, under load)."""
        if self.child is not None and not self.done:
            every = all(name in self.results for name in self.checks)
            if not (every and self.child.finish_within(CLEANUP_SECONDS)):
                self.child.stop()
            self.done = True

    # -- in this process ---------------------------------------------------------------

    def _run_here(self) -> None:
        try:
            report = self.gauntlet.run_all(self.checks, raise_on_failure=False)
        except GauntletError as exc:
            self.error = exc  # e.g. the database went away: every test reports it
        else:
            self.results.update({r.name: r for r in report.results})
        finally:
            self.done = True

    def _receive(self) -> None:
        assert self.child is not None
        messages = self.child.wait()
        if self.child.finished:
            messages += self.child.join()
            self.done = True
        for message in messages:
            if isinstance(message, forked.Results):
                self.results.update(message.results)
            elif isinstance(message, forked.Raised):
                error = message.error
                if isinstance(error, GauntletError):
                    self.error = error
                else:
                    self.error = GauntletError(f"{type(error).__name__}: {error}")

    # -- in the child ------------------------------------------------------------------

    def _child_body(self, send: forked.Send) -> None:  # pragma: no cover - in the child
        gauntlet = self.gauntlet
        # Pooled connections are the parent's: this process opens its own.
        for engine in (gauntlet.engine, *gauntlet.alembic_config.attributes.values()):
            if isinstance(engine, Engine):
                engine.dispose(close=False)
        shown = gauntlet.progress  # the class's own (stderr, on request)

        def report(event: Any) -> None:
            if shown is not None:
                shown(event)
            if isinstance(event, CheckResult):
                send(forked.Results({event.name: event}))  # the test waiting for it goes on

        gauntlet.progress = report
        final = gauntlet.run_all(self.checks, raise_on_failure=False)
        send(forked.Results({r.name: r for r in final.results}))

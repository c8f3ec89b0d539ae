"""Progress on a terminal: one bar per walk, drawn by tqdm.

The command line uses :class:`ProgressBars` when stderr is a terminal (and ``-v`` is not
given); elsewhere (a CI log, a file, a pipe) it prints plain lines
(:class:`gauntlet_sync.cli.ProgressPrinter`), which a log keeps readable.
"""

from __future__ import annotations

from typing import Any, Protocol, TextIO

from tqdm import tqdm

from .report import CheckResult, CheckStarted
from .session import Progress

__all__ = ["ProgressBars", "Reached", "result_line"]

#: revision n of N, elapsed<estimate, the step under way.
BAR_FORMAT = (
    "{desc}: {percentage:3.0f}%|{bar}| {n_fmt}/{total_fmt} [{elapsed}<{remaining}]{postfix}"
)


def result_line(result: CheckResult) -> str:
    """The line that ends a check: its status, time and, unless it passed, its summary."""
    text = f"[{result.name}] {result.status} in {result.seconds:.2f} s"
    if result.status != "passed" and result.summary:
        text += f": {result.summary}"
    return text


class _Lines(Protocol):
    stream: TextIO

    def line(self, text: str) -> None: ...


class _Bar(tqdm):  # type: ignore[misc,unused-ignore]  # tqdm ships no types
    """tqdm without its monitor thread: a second thread would stop ``run_all`` from forking
    (:func:`gauntlet_sync.forked.possible`), and the run would lose its second CPU."""

    monitor_interval = 0


class Reached:
    """How many distinct revisions each walk has reached ("revision n of N").

    The two halves of a split stairway arrive from two processes at once, each in its own
    order; counting distinct revisions moves one counter forward for both, and a revision
    walked again (the parent finishing a half the child could not) is not counted twice.
    A walk that starts again from its first revision (another check's upgrade, run alone)
    starts a new count.
    """

    def __init__(self) -> None:
        self.seen: dict[str, set[str]] = {}
        self.last: dict[str, str] = {}

    def add(self, event: Progress) -> tuple[int, bool]:
        """Count ``event``'s revision; returns the walk's count and whether it restarted."""
        walk, revision = event.walk, event.step.revision
        seen = self.seen.setdefault(walk, set())
        restarted = event.index == 1 and revision in seen and self.last.get(walk) != revision
        if restarted:
            seen.clear()
        seen.add(revision)
        self.last[walk] = revision
        return len(seen), restarted

    def forget(self, walk: str) -> None:
        """The walk is over (its check ended)."""
        self.seen.pop(walk, None)
        self.last.pop(walk, None)


class ProgressBars:
    """Turns progress events into one tqdm bar per walk, and lines above them.

    A bar counts the distinct revisions its walk has reached ("revision n of N"), so the
    two halves of a split stairway, which arrive from two processes at once, move one bar,
    and a revision walked again (the parent finishing a half the child could not) is not
    counted twice. A check's start and end are lines written above the bars; a check's
    result closes the bar of the walk of that name. Call :meth:`close` at the end.
    """

    def __init__(self, out: _Lines) -> None:
        self.out = out
        self.bars: dict[str, Any] = {}
        self.reached = Reached()

    def __call__(self, event: object) -> None:
        if isinstance(event, CheckStarted):
            self._line(f"[{event.name}] started")
        elif isinstance(event, Progress):
            self._advance(event)
        elif isinstance(event, CheckResult):
            self._finish(event.name)
            self._line(result_line(event))

    def close(self) -> None:
        """Close every bar still open (the run ended or was interrupted)."""
        for walk in list(self.bars):
            self._finish(walk)

    def _advance(self, event: Progress) -> None:
        walk = event.walk
        count, restarted = self.reached.add(event)
        if restarted:
            self._close_bar(walk)  # a new walk of the same name (e.g. another check's upgrade)
        bar = self.bars.get(walk)
        if bar is None:
            bar = self.bars[walk] = _Bar(
                total=event.total,
                desc=walk,
                unit="rev",
                file=self.out.stream,
                bar_format=BAR_FORMAT,
                dynamic_ncols=True,
                leave=True,
            )
        bar.update(count - bar.n)
        bar.set_postfix_str(f"{event.step.label} {event.step.revision}", refresh=False)

    def _finish(self, walk: str) -> None:
        self._close_bar(walk)
        self.reached.forget(walk)

    def _close_bar(self, walk: str) -> None:
        bar = self.bars.pop(walk, None)
        if bar is not None:
            bar.set_postfix_str("", refresh=False)
            bar.close()

    def _line(self, text: str) -> None:
        with tqdm.external_write_mode(file=self.out.stream):
            self.out.line(text)

"""Live progress (issue 16, point 1): bars on a terminal, plain lines elsewhere."""

from __future__ import annotations

import fcntl
import io
import itertools
import os
import re
import select
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from gauntlet_sync import (
    CheckResult,
    CheckStarted,
    EmbeddedPostgres,
    Gauntlet,
    Progress,
    Step,
)
from gauntlet_sync.cli import Output, ProgressPrinter
from gauntlet_sync.progress import ProgressBars
from tests.histories import catalog
from tests.reliability import ROOT, child_env


def _step(index: int, label: str = "upgrade") -> Progress:
    return Progress("stairway", Step(f"r{index:03}", "upgrade", label), index, 60)


def test_one_bar_per_walk_counts_each_revision_once() -> None:
    """The halves of a split stairway arrive interleaved from two processes; a revision
    the parent walks again after the child gave up is not counted twice."""
    threads = threading.active_count()
    stream = io.StringIO()
    bars = ProgressBars(Output(stream, None))
    bars(CheckStarted("stairway"))
    for first, second in itertools.zip_longest(range(1, 37), range(37, 51)):  # child: to 50
        for label in ("upgrade", "downgrade", "re-upgrade"):
            bars(_step(first, label))
            if second is not None:
                bars(_step(second, label))
    assert bars.bars["stairway"].n == 50
    assert threading.active_count() == threads  # no tqdm monitor: run_all may still fork
    for index in range(37, 61):  # the parent walks the child's half itself
        for label in ("upgrade", "downgrade", "re-upgrade"):
            bars(_step(index, label))
    assert bars.bars["stairway"].n == 60
    bars(CheckResult("stairway", "passed", 3.5))
    text = stream.getvalue()
    assert text.startswith("[stairway] started\n")
    assert "stairway: 100%|" in text and "60/60 [" in text
    assert "61/60" not in text
    assert text.rstrip().endswith("[stairway] passed in 3.50 s")
    assert bars.bars == {}


def test_a_new_walk_of_the_same_name_gets_a_new_bar() -> None:
    stream = io.StringIO()
    bars = ProgressBars(Output(stream, None))
    for _ in range(2):  # two checks run alone: an upgrade walk each
        for index in (1, 2):
            bars(Progress("upgrade", Step(f"r{index}", "upgrade", "upgrade"), index, 2))
    assert bars.bars["upgrade"].n == 2
    bars.close()
    assert stream.getvalue().count("upgrade: 100%|") >= 2


def test_the_cli_draws_bars_on_a_terminal() -> None:
    """stderr on a pseudo-terminal: bars with revision n of N, elapsed and estimate."""
    controller, terminal = os.openpty()
    # A terminal 100 columns wide, 30 rows high (a fresh pty has no size at all).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    process = subprocess.Popen(
        [sys.executable, "-m", "gauntlet_sync", "-c", catalog.ini("clean"), "--only", "stairway"],
        cwd=ROOT,
        env=child_env(GAUNTLET_DSN=EmbeddedPostgres.shared().dsn),
        stdout=subprocess.PIPE,
        stderr=terminal,
        text=True,
    )
    os.close(terminal)
    chunks: list[bytes] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 1)
        if not ready:
            if process.poll() is not None:
                break
            continue
        try:
            chunk = os.read(controller, 65536)
        except OSError:  # the terminal's other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    stdout, _ = process.communicate(timeout=60)
    os.close(controller)
    err = b"".join(chunks).decode()
    assert process.returncode == 0, err + stdout
    assert "[stairway] started" in err
    assert re.search(r"stairway: 100%\|[^|]*\| 4/4 \[\d\d:\d\d<\d\d:\d\d", err), err
    assert "[stairway] passed in" in err
    assert "1 passed" in stdout


def test_off_a_terminal_the_cli_prints_plain_lines() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "gauntlet_sync", "-c", catalog.ini("clean"), "--only", "stairway"],
        cwd=ROOT,
        env=child_env(GAUNTLET_DSN=EmbeddedPostgres.shared().dsn),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "|" not in done.stderr and "\r" not in done.stderr
    assert "[stairway] started" in done.stderr


def test_plain_lines_count_what_both_halves_of_a_split_walk_reached() -> None:
    """Off a terminal, the once-a-second line counts the revisions reached, so two halves
    reporting at once move it forward only; ``-v`` gives each step its own position."""
    now = [0.0]
    stream = io.StringIO()
    printer = ProgressPrinter(Output(stream, None), clock=lambda: now[0])
    for first, second in itertools.zip_longest(range(1, 37), range(37, 61)):
        for label in ("upgrade", "downgrade", "re-upgrade"):
            now[0] += 0.2
            printer(_step(first, label))
            if second is not None:
                printer(_step(second, label))
    counts = [int(n) for n in re.findall(r"^\[stairway (\d+)/60\]", stream.getvalue(), re.M)]
    assert counts == sorted(counts) and counts[-1] >= 58, counts
    verbose = io.StringIO()
    printer = ProgressPrinter(Output(verbose, None), verbose=True)
    printer(_step(1))
    printer(_step(37))
    printer(_step(2))
    assert re.findall(r"^\[stairway (\d+)/60\]", verbose.getvalue(), re.M) == ["1", "37", "2"]


def test_a_split_walks_second_process_reports_as_it_goes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The forked half of a split stairway is not held back until the walk is done: its
    steps come in while this process still walks its own half (issue 16: ~4 s of silence,
    then a burst)."""
    from gauntlet_sync import GauntletConfig, scheduler

    monkeypatch.setattr(scheduler, "SPLIT_WALK_FROM", 2)
    marker = tmp_path / "child-reported"
    become_child = scheduler.become_child

    def spying(ctx: Any, send: Any, session: Any) -> Any:
        child = become_child(ctx, send, session)  # in the forked child
        sends = child.progress

        def progress(event: Any) -> None:
            sends(event)
            if isinstance(event, Progress) and event.walk == "stairway":
                marker.touch()  # it has sent a stairway step of its own

        return child.with_progress(progress)

    monkeypatch.setattr(scheduler, "become_child", spying)
    events: list[Any] = []

    def listen(event: Any) -> None:
        events.append(event)
        if isinstance(event, Progress) and event.walk == "stairway" and event.index == 1:
            deadline = time.monotonic() + 60
            while not marker.exists() and time.monotonic() < deadline:
                time.sleep(0.05)  # this process's walk pauses until the child has reported

    config = GauntletConfig(alembic_ini=catalog.ini("clean"))
    with Gauntlet(None, config, progress=listen) as gauntlet:
        assert gauntlet.run_all().ok
    stairway = [e for e in events if isinstance(e, Progress) and e.walk == "stairway"]
    total = stairway[0].total
    mine = max(1, min(total - 1, round(total * scheduler.SPLIT_SHARE)))
    first_of_child = next(i for i, e in enumerate(stairway) if e.index > mine)
    last_of_mine = max(i for i, e in enumerate(stairway) if e.index <= mine)
    assert marker.exists()
    assert first_of_child < last_of_mine, [(e.index, e.step.label) for e in stairway]

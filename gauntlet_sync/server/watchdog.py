"""The watchdog: a process that removes the server and its files when its owner goes away,
however it goes (killed included)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

from ..errors import ServerStartError

# Runs in its own session, immune to SIGINT/SIGTERM/SIGHUP, blocked on stdin. Lines are
# postmaster pids to watch, or "-" once the server was stopped cleanly. At EOF (the owner closed
# the pipe or died) it stops whatever it still watches and removes the base dir.
_WATCHDOG_CODE = r"""
import os, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
base_dir = sys.argv[1]
pids = set()
for line in sys.stdin.buffer:
    line = line.strip()
    if line == b"-":
        pids.clear()
    elif line.isdigit():
        pids.add(int(line))
if pids:
    try:
        with open(os.path.join(base_dir, "data", "postmaster.pid")) as f:
            pids.add(int(f.readline()))
    except (OSError, ValueError):
        pass

def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True

def children(parents):
    found = set()
    for entry in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rpartition(")")[2].split()[1]) in parents:
                        found.add(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found

pids |= children(set(pids))  # backends: process groups of their own, stopped or not

def signal_all(sig, seconds):
    for pid in pids:
        if alive(pid):
            try:
                os.kill(pid, signal.SIGCONT)
            except OSError:
                pass
        if alive(pid):
            try:
                os.kill(pid, sig)
            except OSError:
                pass
    deadline = time.monotonic() + seconds
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)

signal_all(signal.SIGINT, 5.0)
signal_all(signal.SIGKILL, 5.0)
shutil.rmtree(base_dir, ignore_errors=True)
"""


class Watchdog:
    """Removes the server and its base dir when this process goes away, however it goes."""

    def __init__(self, base_dir: Path) -> None:
        self._process = self._spawn(base_dir)

    @staticmethod
    def _spawn(base_dir: Path) -> subprocess.Popen[bytes]:
        # The code is stdlib-only, so any Python 3 will do when ours cannot be executed again
        # (a venv whose base interpreter sits in a directory we lost access to).
        candidates = dict.fromkeys(
            c for c in (sys.executable, shutil.which("python3"), "/usr/bin/python3") if c
        )
        failures = []
        for interpreter in candidates:
            try:
                return subprocess.Popen(
                    [interpreter, "-I", "-S", "-c", _WATCHDOG_CODE, str(base_dir)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                    cwd="/",
                )
            except OSError as exc:
                failures.append(f"{interpreter}: {exc.strerror}")
        raise ServerStartError(
            "Cannot start the cleanup watchdog (no executable Python interpreter: "
            + "; ".join(failures)
            + ")"
        )

    def watch(self, pid: int) -> None:
        self._send(f"{pid}\n")

    def release(self) -> None:
        """The server was stopped and its dir removed: let the watchdog exit without acting."""
        self._send("-\n")
        stdin = self._process.stdin
        if stdin is not None:
            try:
                stdin.close()
            except OSError:
                pass
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def forget_in_child(self) -> None:
        """In a forked child: close our copy of the pipe without a word, so that the owner's
        death still reaches the watchdog (as end of file) while the child runs on."""
        stdin = self._process.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stdin.fileno())  # the pipe's end closes; the number stays valid
                os.close(devnull)

    def _send(self, line: str) -> None:
        stdin: IO[bytes] | None = self._process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode())
            stdin.flush()
        except OSError:
            pass

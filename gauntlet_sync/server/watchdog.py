"""The watchdog: a process that removes the server and its files when its owner goes away,
however it goes (killed included).

The owner alone holds the write end of the watchdog's stdin: end of file there means the
owner is gone (exited, crashed, SIGKILLed), and nothing else in the system has to notice.
Two things keep that true:

* a process forked from the owner (``run_all``'s children, the mixin's shared run) closes
  its inherited copy at once (:func:`_forget_in_child`), so a child that outlives the
  owner does not keep the server alive, and a child that exits closes nothing of the
  owner's. Forks wait while a watchdog is being started (the server starts in a thread of
  its own, see ``database.EarlyServer``): a child forked from another thread in that
  moment would hold an end nobody knew of yet;
* exec'd programs never get it (the pipe is close-on-exec, as all of ``subprocess``'s).

The owner checks that its watchdog still runs whenever the shared server is asked for
(``EmbeddedPostgres.shared()``) and starts another if it was killed.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from ..errors import ServerStartError

#: The watchdog's last argument, so that it can be told from other Python processes (``ps``,
#: a test suite's "kill the commands a test left" fixture).
MARK = "gauntlet-sync-watchdog"

# Runs in its own session, immune to SIGINT/SIGTERM/SIGHUP, blocked on stdin. Lines are
# postmaster pids to watch, or "-" once the server was stopped and its dir removed. At EOF (the
# owner closed the pipe or died), unless released, it stops every process of the server (the
# pids sent, postmaster.pid's, and any whose command line names the data dir: a server whose
# pid the owner had no time to send) with their backends, and removes the base dir.
_WATCHDOG_CODE = r"""
import os, shutil, signal, sys, time
for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
    signal.signal(s, signal.SIG_IGN)
base_dir = sys.argv[1]
data_dir = os.path.join(base_dir, "data")
pids = set()
released = False
for line in sys.stdin.buffer:
    line = line.strip()
    if line == b"-":
        pids.clear()
        released = True
    elif line.isdigit():
        pids.add(int(line))
        released = False
if released:
    shutil.rmtree(base_dir, ignore_errors=True)
    sys.exit(0)
proc = os.path.isdir("/proc")

def command_line(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().decode(errors="replace").split("\0")
    except OSError:
        return None

def ours(pid):
    # pids get reused: a process is the server's if its command line names the data dir
    if not proc:
        return True
    args = command_line(pid)
    return args is not None and data_dir in args

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
    for entry in os.listdir("/proc") if proc else ():
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    if int(f.read().rpartition(")")[2].split()[1]) in parents:
                        found.add(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found

try:
    with open(os.path.join(data_dir, "postmaster.pid")) as f:
        pids.add(int(f.readline()))
except (OSError, ValueError):
    pass
me = os.getpid()
for entry in os.listdir("/proc") if proc else ():
    if entry.isdigit() and int(entry) != me:
        pids.add(int(entry))
pids = {pid for pid in pids if pid != me and ours(pid)}
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

if pids:
    signal_all(signal.SIGQUIT, 5.0)  # immediate shutdown: the data is thrown away
    signal_all(signal.SIGKILL, 5.0)
shutil.rmtree(base_dir, ignore_errors=True)
"""


class Watchdog:
    """Removes the server and its base dir when this process goes away, however it goes."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        with _FORKS:  # no fork in between: the child would not know to close the new end
            self._process = self._spawn(base_dir)
            if self._process.stdin is not None:
                _write_ends.add(self._process.stdin.fileno())

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        """Whether the watchdog still runs (someone may have killed it)."""
        return self._process.poll() is None

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
                    [interpreter, "-I", "-S", "-c", _WATCHDOG_CODE, str(base_dir), MARK],
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
        self.abandon()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def abandon(self) -> None:
        """Close our end: the watchdog acts at once (unless released) and exits."""
        stdin = self._process.stdin
        if stdin is None:
            return
        with _FORKS:  # the number is free for reuse once closed: not to be forgotten later
            if not stdin.closed:
                _write_ends.discard(stdin.fileno())
            with contextlib.suppress(OSError):
                stdin.close()

    def _send(self, line: str) -> None:
        stdin: IO[bytes] | None = self._process.stdin
        if stdin is None or stdin.closed:
            return
        try:
            stdin.write(line.encode())
            stdin.flush()
        except OSError:
            pass


#: Held while a watchdog starts or its end is closed, and by every fork (os.fork, the
#: multiprocessing and forked.py children): see the module's docstring.
_FORKS = threading.Lock()
#: The write ends of this process's watchdogs.
_write_ends: set[int] = set()


def _forget_in_child() -> None:
    """In a forked child: close our copies of the write ends without a word, so that the
    owner's death still reaches each watchdog (as end of file) while the child runs on."""
    global _FORKS
    _FORKS = threading.Lock()  # the parent's is held (by the fork); the child gets its own
    if not _write_ends:
        return
    with contextlib.suppress(OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        for fd in _write_ends:  # the pipe's end closes; the number stays valid for its file
            with contextlib.suppress(OSError):
                os.dup2(devnull, fd, inheritable=False)
        os.close(devnull)
    _write_ends.clear()


def _before_fork() -> None:
    _FORKS.acquire()


def _after_fork_in_parent() -> None:
    _FORKS.release()


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_forget_in_child
)

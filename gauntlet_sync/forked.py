"""Run part of ``run_all`` in a forked child, so that two migration walks use two CPUs.

alembic's ``context`` and ``op`` are module-level proxies: a process drives one env.py
run at a time, so threads cannot overlap two walks. A forked child can, and it inherits
the loaded history, config and models (nothing is imported or parsed again). The child
opens its own connections, sends its progress events and its outcome back through a pipe
as length-prefixed pickles, and leaves with ``os._exit``: it never unwinds the parent's
``with`` blocks, so it drops nothing and stops nothing (the parent owns the schemas, the
server and its watchdog; psycopg does not close a connection from a process that did not
open it).
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from . import interrupts
from .errors import GauntletError

_HEADER = struct.Struct("!I")
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
Send = Callable[[Any], None]


# -- what a child sends (pickled through the pipe) --------------------------------------


@dataclasses.dataclass(frozen=True)
class Event:
    """A progress event (``CheckStarted``, ``Progress``, ``CheckResult``) to pass on."""

    event: Any


@dataclasses.dataclass(frozen=True)
class Results:
    """The child's check results: name -> ``CheckResult``."""

    results: dict[str, Any]


@dataclasses.dataclass(frozen=True)
class WalkDone:
    """The child's part of a split walk: its ``WalkOutcome``, or ``None`` when it could not
    catch up (the parent then walks that part itself)."""

    outcome: Any


@dataclasses.dataclass(frozen=True)
class Raised:
    """What the child raised (a ``GauntletError`` carrying the text if it did not pickle)."""

    error: BaseException


def possible() -> bool:
    """Forking is safe only where there is ``fork`` and no other thread (a thread holding a
    lock at the fork would leave the child's copy of that lock held forever), and not on
    macOS, where system frameworks a driver may have loaded do not survive a fork."""
    return hasattr(os, "fork") and sys.platform != "darwin" and threading.active_count() == 1


def start(body: Callable[[Send], None]) -> Child | None:
    """A child running ``body``, or ``None`` when the system will not fork (no memory, too
    many processes): the caller then does the work itself."""
    try:
        return Child(body)
    except OSError:
        return None


class Child:
    """A forked child running ``body(send)``; the parent reads what it sends.

    What the child raises comes back as :class:`Raised`.
    """

    def __init__(self, body: Callable[[Send], None]) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()  # or the child would print the parent's buffered output again
        read_fd, write_fd = os.pipe()
        parent = os.getpid()
        try:
            pid = os.fork()
        except OSError:
            os.close(read_fd)
            os.close(write_fd)
            raise
        if pid == 0:  # pragma: no cover - the child's lines are seen through its messages
            os.close(read_fd)
            _die_with(parent)
            _run_child(body, write_fd)
        os.close(write_fd)
        self.pid = pid
        self._fd = read_fd
        self._buffer = b""
        self._finished = False

    def poll(self) -> list[Any]:
        """The messages that have arrived so far, without waiting."""
        ready, _, _ = select.select([self._fd], [], [], 0)
        if ready and not self._finished:
            self._read_once()
        return self._messages()

    @property
    def finished(self) -> bool:
        """Whether the child has closed its end (sent everything)."""
        return self._finished

    def wait(self) -> list[Any]:
        """The next message(s): waits until something arrives or the child is done."""
        if not self._finished:
            self._read_once()
        return self._messages()

    def join(self) -> list[Any]:
        """Every message still to come; waits for the child to finish."""
        while not self._finished:
            self._read_once()
        messages = self._messages()
        self._reap()
        return messages

    def finish_within(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the child to finish (what it still sends is dropped);
        whether it did (then it is reaped)."""
        deadline = time.monotonic() + seconds
        while not self._finished:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            ready, _, _ = select.select([self._fd], [], [], left)
            if ready:
                self._read_once()
                self._buffer = b""
        self._reap()
        return True

    def stop(self) -> None:
        """Interrupt the child (the parent is failing or was interrupted) and wait for it."""
        if self._finished:
            self._reap()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        for _ in range(100):  # its connection closes as it exits; the server rolls back
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self._close()
                return
            select.select([], [], [], 0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        self._reap()

    def _read_once(self) -> None:
        chunk = os.read(self._fd, 1 << 16)
        if chunk:
            self._buffer += chunk
        else:
            self._finished = True

    def _messages(self) -> list[Any]:
        messages = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            end = _HEADER.size + size
            if len(self._buffer) < end:
                break
            messages.append(pickle.loads(self._buffer[_HEADER.size : end]))
            self._buffer = self._buffer[end:]
        return messages

    def _reap(self) -> None:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)
        self._close()

    def _close(self) -> None:
        self._finished = True
        with contextlib.suppress(OSError):
            os.close(self._fd)


def _die_with(parent: int) -> None:  # pragma: no cover - runs in the child
    """Ask Linux to kill this child when its parent dies, however it dies (SIGKILL
    included): an orphan would run on alone, holding the parent's output pipes and a
    database connection. Elsewhere the parent's own ``stop`` is what ends it."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _run_child(body: Callable[[Send], None], write_fd: int) -> None:  # pragma: no cover
    def send(message: Any) -> None:
        data = pickle.dumps(message)
        frame = _HEADER.pack(len(data)) + data
        view = memoryview(frame)
        while view:
            view = view[os.write(write_fd, view) :]

    signal.signal(signal.SIGINT, _stopped)
    try:
        try:
            body(send)
        except BaseException as exc:  # noqa: BLE001 - everything goes back to the parent
            if not isinstance(exc, (Exception, KeyboardInterrupt)):  # sys.exit() in user code
                exc = GauntletError(f"the project's code called sys.exit() in a check: {exc!r}")
            send(Raised(_picklable(exc)))
    finally:
        os._exit(0)


def _stopped(signum: int, frame: object) -> None:  # pragma: no cover - in the child
    """SIGINT in a child: its parent's :meth:`Child.stop` (or Ctrl-C). Should the code it
    meets drop the ``KeyboardInterrupt``, the child still ends at its next safe point
    (:mod:`gauntlet_sync.interrupts`) instead of walking on until the parent's SIGKILL,
    which would leave its work half done."""
    if interrupts.asked():  # a second SIGINT (Ctrl-C again): the cleanup under way goes on
        return
    interrupts.ask(KeyboardInterrupt)
    raise KeyboardInterrupt


def _picklable(exc: BaseException) -> BaseException:
    try:
        pickle.dumps(exc)
    except Exception:  # noqa: BLE001 - any pickling failure
        return GauntletError(f"{type(exc).__name__}: {exc}")
    return exc


class Relay:
    """Passes a child's progress events on between the parent's own, and collects what else
    the child sends: results (handed to ``on_results``), a walk outcome, an exception.

    While the child runs, the parent reports through :attr:`progress` (``None`` when
    nobody listens): each of its own events first delivers what the child sent so far, so
    the child's steps are reported as they happen, each process's in its own order.
    """

    def __init__(
        self,
        child: Child,
        user: Callable[[Any], None] | None,
        *,
        on_results: Callable[[Any], None] | None = None,
    ) -> None:
        self.child = child
        self.user = user
        self.on_results = on_results
        self.raised: list[BaseException] = []
        self.walk: WalkDone | None = None
        self.progress: Callable[[Any], None] | None = self._relaying if user else None

    def _relaying(self, event: Any) -> None:
        self._deliver(self.child.poll())
        assert self.user is not None
        self.user(event)

    def finish(self) -> None:
        """Take in everything the child sends, as it comes, until it is done; an
        interruption this process's own code dropped ends the wait (and the child, through
        :func:`stopped_on_error`), not the child's whole walk later."""
        while not self.child.finished:
            interrupts.check()
            self._deliver(self.child.wait())
        self._deliver(self.child.join())

    def _deliver(self, messages: list[Any]) -> None:
        for message in messages:
            if isinstance(message, Event):
                self._pass_on([message.event])
            elif isinstance(message, Results) and self.on_results is not None:
                self.on_results(message.results)  # their events went out already
            elif isinstance(message, WalkDone):
                self.walk = message
            elif isinstance(message, Raised):
                self.raised.append(message.error)

    def _pass_on(self, events: list[Any]) -> None:
        if self.user is not None:
            for event in events:
                self.user(event)


@contextlib.contextmanager
def stopped_on_error(child: Child) -> Iterator[Child]:
    """Yield ``child``; if the parent's work fails meanwhile, stop the child first."""
    try:
        yield child
    except BaseException:
        child.stop()
        raise

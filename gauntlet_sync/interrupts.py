"""An interruption that outlives the exception carrying it: raised again at safe points.

A signal handler that ends the run (the CLI's SIGTERM/SIGHUP, a forked child's SIGINT
from its parent) raises where the process is. Where that is code that drops what it
meets (SQLAlchemy's pool resetting a connection, a rollback failing on a query the
signal cut short, a project's ``except BaseException``), the exception is lost and the
run would go on through every check left, silently, until CI's SIGKILL ends it midway
and leaves its schemas behind. So such a handler also *asks* here, and the run raises
the interruption again where it can unwind cleanly: at the start of each migration step
and each check, and while a parent waits for its forked child. The unwinding is Ctrl-C's
(schemas dropped, children stopped, the embedded server stopped).

Nothing asks unless such a handler is installed: a library user's own signal handling
is left alone.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ask", "asked", "check", "forget"]

#: the interruption to raise at the next safe point (a new one each time), if one came.
_asked: list[Callable[[], BaseException]] = []


def ask(make: Callable[[], BaseException]) -> None:
    """From a signal handler: from now on, raise ``make()`` at every safe point (the first
    interruption asked for is the one raised). ``make()`` should be a ``KeyboardInterrupt``:
    the run's code lets those through and unwinds (a migration's failure would be
    reported otherwise)."""
    if not _asked:
        _asked.append(make)


def asked() -> bool:
    """Whether an interruption was asked for (and not forgotten)."""
    return bool(_asked)


def forget() -> None:
    """The handler that asked is gone (the CLI's run is over)."""
    _asked.clear()


def check() -> None:
    """A safe point: raise the interruption asked for, if one was."""
    if _asked:
        raise _asked[0]()

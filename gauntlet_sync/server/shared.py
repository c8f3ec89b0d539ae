"""The process-wide server behind ``EmbeddedPostgres.shared()`` (and ``dsn=None``)."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .postgres import EmbeddedPostgres

_lock = threading.Lock()
_server: EmbeddedPostgres | None = None


def instance(cls: type[EmbeddedPostgres]) -> EmbeddedPostgres:
    """The shared server: started on first use, replaced if it died, its watchdog restarted
    if that was killed (stopped at exit with every other server)."""
    global _server
    with _lock:
        server = _server
        if server is not None and server.is_running():
            server.keep_watched()
            return server
        if server is not None:
            server.stop()
        _server = cls()
        return _server

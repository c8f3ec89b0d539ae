"""A private, throwaway PostgreSQL server for when the user gives no DSN.

Built on ``testing.postgresql``, with what CI containers and test suites need on top: it runs
as root (by dropping to an unprivileged account), listens on a private Unix socket only, starts
from a cached ``initdb`` result, and a watchdog process removes the server and its files even
when the Python process is killed. Imported only when the embedded server is used.

* ``binaries``: finding ``postgres`` / ``initdb``, and the account that runs them as root;
* ``cache``: the temp dir for a server's files and the cache of ``initdb`` results;
* ``watchdog``: the process that cleans up after an owner that died;
* ``postgres``: ``EmbeddedPostgres`` itself (testing.postgresql's hooks);
* ``shared``: the process-wide instance.
"""

from __future__ import annotations

from .binaries import (
    ENV_PG_BIN,
    WELL_KNOWN_BIN_GLOBS,
    RunAs,
    find_pg_bin,
    server_version,
    unprivileged_account,
)
from .cache import ENV_CACHE_DIR, ENV_PG_CACHE, ENV_PG_TMPDIR, _temp_root, cache_root
from .postgres import EmbeddedPostgres

__all__ = [
    "ENV_CACHE_DIR",
    "ENV_PG_BIN",
    "ENV_PG_CACHE",
    "ENV_PG_TMPDIR",
    "WELL_KNOWN_BIN_GLOBS",
    "EmbeddedPostgres",
    "RunAs",
    "_temp_root",
    "cache_root",
    "find_pg_bin",
    "server_version",
    "unprivileged_account",
]

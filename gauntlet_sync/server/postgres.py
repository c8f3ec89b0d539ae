"""``EmbeddedPostgres``: a private, throwaway PostgreSQL server, built on ``testing.postgresql``.

What ``testing.postgresql`` does for it, unchanged: the settings (``postgres_args``,
``boot_timeout``, ``copy_data_from``), ``setup()`` (the cached cluster copied in, the
``data`` and 0700 ``tmp`` directories made), the ``postgres`` command line (port, data dir,
socket dir, our arguments), ``stop()`` = ``terminate()`` + ``cleanup()``, and the base dir's
removal. What it overrides, each for a reason of issue 13 (bounded time, nothing left
behind, root) or of the private socket, is said on each override below.

Not taken: ``PostgresqlFactory(cache_initialized_db=True)`` keeps its cluster in a temp dir
of one process, and every command-line run is a new process; our cache
(:mod:`~gauntlet_sync.server.cache`) lives on disk and reaches the server through the same
``copy_data_from`` setting.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
import testing.postgresql
from psycopg import sql
from sqlalchemy.engine import URL
from testing.common.database import get_unused_port

from .. import _compat
from ..dsn import to_url
from ..errors import ServerStartError
from . import shared as _shared
from .binaries import _chown_tree, find_pg_bin, server_version, unprivileged_account
from .cache import ENV_PG_CACHE, _cache_key, _is_cluster, _store_in_cache, _temp_root, cache_root
from .watchdog import Watchdog

log = logging.getLogger("gauntlet_sync.server")

_DATABASE = "test"
_SUPERUSER = "postgres"
_UNIX_ONLY_PORT = 5432  # the socket lives in a private dir, so any port number is free there
#: ``postgres_args`` (testing.postgresql splits them on spaces): throwaway data, so no fsync.
_POSTGRES_ARGS = " ".join(
    f"-c {setting}"
    for setting in (
        "fsync=off",
        "synchronous_commit=off",
        "full_page_writes=off",
        "max_locks_per_transaction=1024",  # a whole history upgraded in one transaction
        "max_connections=200",
        "logging_collector=off",
        "unix_socket_permissions=0700",
        # Segments in the data dir rather than /dev/shm: nothing outlives the base dir, even
        # if the postmaster is SIGKILLed.
        "dynamic_shared_memory_type=mmap",
    )
)
_NO_TCP = "-c listen_addresses="  # the Unix socket only
_TCP = "-h 127.0.0.1"
_BOOT_POLL_SECONDS = 0.02
_STOP_TIMEOUT_SECONDS = 5.0
_LOG_TAIL_LINES = 20


_live_servers: weakref.WeakSet[EmbeddedPostgres] = weakref.WeakSet()


class EmbeddedPostgres(testing.postgresql.Postgresql):
    """A private PostgreSQL server: ``with EmbeddedPostgres() as pg: connect(pg.dsn)``.

    Listens on a Unix socket in a 0700 directory (plus 127.0.0.1 with ``tcp=True``), is tuned
    for throwaway data, and is removed with its files when stopped, at interpreter exit, or by
    its watchdog if this process dies.
    """

    # Set by testing.common.database.Database, which has no type hints.
    base_dir: str
    settings: dict[str, Any]
    child_process: subprocess.Popen[bytes] | None
    initdb: str
    postgres: str
    name: str

    def __init__(
        self,
        *,
        pg_bin: str | os.PathLike[str] | None = None,
        tcp: bool = False,
        use_cache: bool | None = None,
        boot_timeout: float = 30.0,
        auto_start: bool = True,
    ) -> None:
        self._lock = threading.RLock()
        self.bin_dir = find_pg_bin(pg_bin)
        self.tcp = tcp
        self.run_as = unprivileged_account()
        # use_cache=None follows the environment; True overrides GAUNTLET_PG_CACHE=0 only
        # (GAUNTLET_CACHE_DIR and XDG_CACHE_HOME still say where); False turns it off.
        forced = {**os.environ, ENV_PG_CACHE: "1"} if use_cache else None
        self._cache_root = cache_root(forced) if use_cache is not False else None
        self._cache_entry: Path | None = None
        self._watchdog: Watchdog | None = None
        super().__init__(
            auto_start=0,
            base_dir=str(self._new_base_dir()),
            initdb=str(self.bin_dir / "initdb"),
            postgres=str(self.bin_dir / "postgres"),
            port=None,
            copy_data_from=None,
            boot_timeout=boot_timeout,
            postgres_args=f"{_TCP if tcp else _NO_TCP} {_POSTGRES_ARGS}",
        )
        # The base class wanted a directory; each start() makes its own, watched one.
        os.rmdir(self.base_dir)
        _live_servers.add(self)
        if auto_start:
            self.start()

    # --- public API ---

    @classmethod
    def shared(cls) -> EmbeddedPostgres:
        """The process-wide server: started on first use, replaced if it died, stopped at exit."""
        return _shared.instance(cls)

    @property
    def dsn(self) -> str:
        """URL for ``psycopg.connect`` and ``sqlalchemy.create_engine``, over the socket."""
        socket_dir = quote(str(self.socket_dir), safe="/")
        return f"postgresql://{_SUPERUSER}@/{_DATABASE}?host={socket_dir}&port={self.port}"

    @property
    def url(self) -> URL:
        """The same as ``dsn``, as SQLAlchemy's ``postgresql+psycopg`` URL."""
        return to_url(self.dsn)

    @property
    def alembic_url(self) -> str:
        """``url`` as text for an alembic ini option:
        ``config.set_main_option("sqlalchemy.url", pg.alembic_url)``.

        The URL escapes the socket directory (``%2F``), and alembic's ini parser reads
        ``%`` as interpolation, so ``set_main_option`` refuses the plain URL; here every
        ``%`` is doubled, and ``get_main_option`` gives the URL back.
        """
        return self.url.render_as_string(hide_password=False).replace("%", "%%")

    @property
    def tcp_dsn(self) -> str | None:
        """``postgresql://postgres@127.0.0.1:<port>/test`` when started with ``tcp=True``."""
        if not self.tcp:
            return None
        return f"postgresql://{_SUPERUSER}@127.0.0.1:{self.port}/{_DATABASE}"

    @property
    def port(self) -> int:
        """The server's port (also part of the Unix socket's name)."""
        return int(self.settings["port"] or _UNIX_ONLY_PORT)

    @property
    def socket_dir(self) -> Path:
        """The 0700 directory holding the server's Unix socket (``host=`` in ``dsn``)."""
        return Path(self.base_dir) / "tmp"

    @property
    def pid(self) -> int | None:
        """The postmaster's pid while it runs."""
        process = self.child_process
        return process.pid if process is not None and self.is_running() else None

    @property
    def version(self) -> str:
        """The server's version, as ``postgres --version`` prints it."""
        return server_version(self.bin_dir)

    def is_running(self) -> bool:
        """Whether the server process is alive.

        In a process forked from the owner the postmaster is not a child: ``poll()`` would
        get ECHILD from ``waitpid``, which ``Popen`` takes for "exited" (and remembers), so
        ``shared()`` would start a second server in every forked worker. There the pid is
        looked up instead."""
        process = self.child_process
        if process is None:
            return False
        if os.getpid() != _compat.server_owner_pid(self):
            return process.returncode is None and _alive(process.pid)
        return process.poll() is None

    def start(self) -> None:
        """Start the server (no-op when running); on failure leave nothing behind.

        Overrides testing.postgresql's: that one cannot restart a server that died, start it
        in a session of its own or as the server account (root), or fail with a typed error."""
        with self._lock:
            if self.is_running():
                return
            if self.child_process is not None:  # died on its own: clear what is left
                self.stop()
            self._ensure_base_dir()
            try:
                self._boot()
            except BaseException as exc:
                tail = self._log_tail()
                self.stop()
                if isinstance(exc, ServerStartError) or not isinstance(exc, Exception):
                    raise
                raise ServerStartError(self._start_failure(str(exc), tail)) from exc

    def stop(self, _signal: int = signal.SIGINT) -> None:
        """Shut down and remove the base dir; safe to call again.

        testing.postgresql's ``stop()``, under the lock ``start()`` holds (threads share one
        server)."""
        with self._lock:
            super().stop(_signal)

    def keep_watched(self) -> None:
        """Start another watchdog if this running server's was killed (a test suite's
        cleanup, ``pkill``): without one, a SIGKILL of this process would leave the server
        running. Cheap (one ``waitpid``); only the owner watches."""
        with self._lock:
            watchdog = self._watchdog
            process = self.child_process
            if os.getpid() != _compat.server_owner_pid(self) or watchdog is None:
                return
            if watchdog.running() or process is None or not self.is_running():
                return
            log.debug("the watchdog of %r is gone; starting another", self)
            watchdog.abandon()
            self._watchdog = Watchdog(Path(self.base_dir))
            self._watchdog.watch(process.pid)

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        """testing.postgresql's, unless ``__init__`` failed before the base class ran, or
        the server is stopped already."""
        # Nothing to do once stopped: the usual case, as every live server is stopped at
        # exit (_stop_all_servers). A server still referenced from a module that outlives
        # this one (pytest's, holding a test's fixtures) is collected at interpreter exit
        # after this module's globals were cleared: the base class's stop() would fail
        # there and print "failed to shutdown the server automatically" for a server that
        # was stopped long before.
        state = self.__dict__
        if "child_process" not in state:  # __init__ failed before the base class ran
            return
        if state.get("child_process") is None and state.get("_watchdog") is None:
            return
        super().__del__()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"<EmbeddedPostgres {self.version} {state} base_dir={self.base_dir!r}>"

    # --- testing.postgresql hooks ---

    def initialize_database(self) -> None:
        """Override: initdb as the server account when root, within a deadline, kept on disk.

        The base dir goes to the server account, then initdb runs unless ``setup()`` copied the
        cached cluster in (``copy_data_from``); a fresh cluster is stored in the cache."""
        data_dir = Path(self.get_data_directory())
        if self.run_as is not None:
            _chown_tree(Path(self.base_dir), self.run_as)
        if _is_cluster(data_dir):
            return
        self._initdb(data_dir)
        self._create_test_database(data_dir)
        if self._cache_entry is not None:
            _store_in_cache(data_dir, self._cache_entry)

    def wait_booting(self) -> None:
        """Override: polls every 20 ms, not 100 (that would add ~50 ms to every start), and
        fails as a ``ServerStartError`` saying why, within ``boot_timeout``."""
        deadline = time.monotonic() + float(self.settings["boot_timeout"])
        while not self.is_server_available():
            if not self.is_running():
                raise ServerStartError(self._start_failure("the server exited during startup"))
            if time.monotonic() > deadline:
                raise ServerStartError(
                    self._start_failure(f"not ready after {self.settings['boot_timeout']} s")
                )
            time.sleep(_BOOT_POLL_SECONDS)

    def is_server_available(self) -> bool:
        """Override: through the private Unix socket, bounded to 2 s (the base tries pg8000 on
        TCP, where the server does not listen)."""
        if not (self.socket_dir / f".s.PGSQL.{self.port}").exists():
            return False
        try:
            with self._connect("template1", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def poststart(self) -> None:
        """Override: the base creates ``test`` through pg8000 on TCP; here through the socket,
        and only when the cluster lacks it (the cached one has it)."""
        with self._connect("postgres", autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_DATABASE)))

    def terminate(self, *args: Any) -> None:
        """Override: bounded, and it stops a frozen server and its backends (issue 13).

        Immediate shutdown (SIGQUIT): the data is thrown away, so no checkpoint is owed (the
        base's SIGINT waits for one, then kills the postmaster alone and raises).

        A stopped server (SIGSTOP) is continued so that it can obey; one that does not end
        within seconds is SIGKILLed with every process it started: backends live in
        process groups of their own, so they are found as the postmaster's children."""
        process = self.child_process
        if process is None or _compat.server_owner_pid(self) != os.getpid():
            return
        backends = _children(process.pid)
        for sig in (signal.SIGQUIT, signal.SIGCONT):
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(sig)
        for pid in backends:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            backends |= _children(process.pid)
            process.kill()
            process.wait()
        for pid in backends:  # those still there (a stopped backend does not notice)
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        self.child_process = None

    def cleanup(self) -> None:
        """testing.postgresql's removal of the base dir, never by a forked child (the files
        are the owner's), then the watchdog let go: there is nothing left to watch."""
        if os.getpid() != _compat.server_owner_pid(self):
            return
        super().cleanup()
        if self.child_process is None and self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None

    # --- internals ---

    def _new_base_dir(self) -> Path:
        base_dir = Path(tempfile.mkdtemp(prefix="gauntlet-pg-", dir=_temp_root(self.run_as)))
        if self.run_as is not None:
            os.chown(base_dir, self.run_as.uid, self.run_as.gid)
        return base_dir

    def _ensure_base_dir(self) -> None:
        watchdog = self._watchdog
        if watchdog is not None and watchdog.running() and os.path.isdir(self.base_dir):
            return
        if watchdog is not None:  # killed, or watching a dir that is gone
            watchdog.abandon()
        if not os.path.isdir(self.base_dir):
            self.base_dir = str(self._new_base_dir())
        _compat.remove_base_dir_on_cleanup(self)  # ours: testing.postgresql's cleanup() removes it
        self._watchdog = Watchdog(Path(self.base_dir))

    def _boot(self) -> None:
        run_uid = self.run_as.uid if self.run_as is not None else os.geteuid()
        self._cache_entry = None
        if self._cache_root is not None:
            self._cache_entry = self._cache_root / _cache_key(self.bin_dir, run_uid)
        cached = self._cache_entry is not None and _is_cluster(self._cache_entry)
        self.settings["copy_data_from"] = str(self._cache_entry) if cached else None
        self.settings["port"] = get_unused_port() if self.tcp else _UNIX_ONLY_PORT
        self.setup()
        self._launch()

    def _launch(self) -> None:
        log_path = Path(self.base_dir) / f"{self.name}.log"
        with open(log_path, "ab") as log_file:
            self.child_process = subprocess.Popen(
                self.get_server_commandline(),  # testing.postgresql's, with postgres_args
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                start_new_session=True,  # a terminal's Ctrl-C is ours to handle, not the server's
                **self._as_server_account(),
            )
        assert self._watchdog is not None
        self._watchdog.watch(self.child_process.pid)
        self.wait_booting()
        self.poststart()

    def _initdb(self, data_dir: Path) -> None:
        command = [
            self.initdb,
            "-D",
            str(data_dir),
            f"--username={_SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        result = self._run_tool(command)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            hint = ""
            if self.run_as is not None:
                hint = (
                    f" (running as root, initdb runs as {self.run_as.name!r}, which must be able "
                    f"to read {self.bin_dir})"
                )
            raise ServerStartError(
                f"initdb from {self.bin_dir} failed{hint}:\n" + "\n".join(output[-_LOG_TAIL_LINES:])
            )

    def _create_test_database(self, data_dir: Path) -> None:
        """Create ``test`` in single-user mode, before the cluster is cached.

        Every start then finds it there instead of paying for CREATE DATABASE (~0.4 s).
        """
        command = [self.postgres, "--single", "-D", str(data_dir), "-F", "postgres"]
        result = self._run_tool(command, stdin_text=f"CREATE DATABASE {_DATABASE};\n")
        if result.returncode != 0:  # the server's poststart creates it later instead
            log.debug("single-user CREATE DATABASE failed: %s", result.stderr.strip())

    def _as_server_account(self) -> dict[str, Any]:
        """As root, the server's programs run as the server account (initdb refuses root)."""
        return self.run_as.popen_kwargs() if self.run_as is not None else {}

    def _run_tool(
        self, command: list[str], stdin_text: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            input=stdin_text,
            capture_output=True,
            text=True,
            cwd=self.base_dir,
            timeout=120,
            **self._as_server_account(),
        )

    def _connect(self, dbname: str, **kwargs: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=_SUPERUSER,
            dbname=dbname,
            **kwargs,
        )

    def _log_tail(self) -> str:
        try:
            lines = (Path(self.base_dir) / f"{self.name}.log").read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(lines.strip().splitlines()[-_LOG_TAIL_LINES:])

    def _start_failure(self, reason: str, tail: str | None = None) -> str:
        tail = self._log_tail() if tail is None else tail
        message = f"PostgreSQL {self.version} from {self.bin_dir} did not start: {reason}"
        if tail:
            message += f"\nlast lines of the server log:\n{tail}"
        return message


def _alive(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, not yet reaped by its
    parent). Linux ``/proc``; elsewhere a zombie counts as alive."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # the server account's process, seen by another account
        pass
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            state = stat_file.read().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (Linux ``/proc``; elsewhere none are found)."""
    found: set[int] = set()
    with contextlib.suppress(OSError):
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                with contextlib.suppress(OSError, IndexError, ValueError):
                    with open(f"/proc/{entry}/stat") as stat_file:
                        fields = stat_file.read().rpartition(")")[2].split()
                    if int(fields[1]) == pid:
                        found.add(int(entry))
    return found


@atexit.register
def _stop_all_servers() -> None:
    for server in list(_live_servers):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - best effort at exit; the watchdog covers the rest
            log.debug("stopping %r at exit failed", server, exc_info=True)

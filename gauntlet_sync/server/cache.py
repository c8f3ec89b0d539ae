"""Where a server's files go: a roomy temp dir, and the cache of fresh ``initdb`` results."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import stat
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from .binaries import RunAs, server_version

log = logging.getLogger("gauntlet_sync.server")

ENV_PG_CACHE = "GAUNTLET_PG_CACHE"
ENV_CACHE_DIR = "GAUNTLET_CACHE_DIR"
ENV_PG_TMPDIR = "GAUNTLET_PG_TMPDIR"
_STAGING_PREFIX = ".staging-"


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


# --- the initdb cache ----------------------------------------------------------------------


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

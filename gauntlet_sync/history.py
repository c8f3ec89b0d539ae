"""The revision graph, loaded once per run.

Alembic's ``command`` functions rebuild the ``ScriptDirectory`` (and so re-import every
revision file) on each call; a stairway over N revisions would load N² files. Here the
directory and its revision map are built once and every walk is planned from them.
"""

from __future__ import annotations

import re
import traceback
import warnings
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from . import _compat
from .errors import ConfigError, HistoryError, MigrationEnvironmentError


class History:
    """Ordered view of one project's revisions."""

    def __init__(self, config: Config) -> None:
        # Alembic only *warns* about a duplicate revision id (the last file silently wins)
        # and about a down_revision that names no revision (then fails with a bare
        # KeyError); both are recorded here and turned into a HistoryError that says which.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            script: ScriptDirectory | None = None
            try:
                self.script = script = ScriptDirectory.from_config(config)
                _check_locations(script)
                # Force the whole map now so a broken file fails here, not mid-walk.
                with _compat.codes_kept():
                    ordered = list(self.script.walk_revisions("base", "heads"))
                self.heads: tuple[str, ...] = tuple(sorted(self.script.get_heads()))
            except CommandError as exc:
                raise _from_warnings(script, caught) or HistoryError(_explain(exc)) from exc
            except SyntaxError as exc:
                raise HistoryError(
                    f"Revision file {exc.filename} has a syntax error at line {exc.lineno}: "
                    f"{exc.msg}. Fix the file; alembic cannot load the history."
                ) from exc
            except ConfigError:
                raise
            except Exception as exc:
                raise _from_warnings(script, caught) or HistoryError(
                    f"Cannot load the migration history from {self._location(config)}"
                    f"{_culprit(script, exc)}: {type(exc).__name__}: {exc}. Fix that file; alembic "
                    "imports every revision file to build the history."
                ) from exc
            error = _from_warnings(script, caught)
        if error is not None:
            raise error
        for warning in caught:  # not ours to judge: pass them on
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )
        _check_env_py(self.script)
        self.revisions: tuple[Script, ...] = tuple(reversed(ordered))
        self.ids: tuple[str, ...] = tuple(rev.revision for rev in self.revisions)
        self._by_id = {rev.revision: rev for rev in self.revisions}
        self._ran: set[str] = set()

    def before_run(self, revision: str) -> ModuleType:
        """Called before each step of ``revision`` runs: from its second run on, its
        revision file is imported anew. The history is loaded once per run, but each
        separate ``alembic`` command imports every revision file afresh, so a step must
        not see module-level state an earlier step of the same revision left (each step
        of a walk is such a command; a one-transaction upgrade runs each revision once).
        Returns the module to run."""
        script = self.get(revision)
        if revision in self._ran:
            _compat.reload_revision_module(script)
        self._ran.add(revision)
        return script.module

    @staticmethod
    def _location(config: Config) -> str:
        return str(config.get_main_option("script_location"))

    def get(self, revision: str) -> Script:
        """A revision by id, prefix or symbolic name (``head``), with a typed error."""
        script = self._by_id.get(revision)
        if script is not None:
            return script
        try:
            found = self.script.get_revision(revision)
        except CommandError as exc:
            raise ConfigError(
                f"Unknown revision {revision!r}: {exc}. Known revisions: "
                f"{', '.join(self.ids[:10])}{' …' if len(self.ids) > 10 else ''}."
            ) from exc
        if found is None:
            raise ConfigError(f"Revision {revision!r} names no single revision.")
        return found

    def resolve(self, revision: str) -> tuple[str, ...]:
        """Symbolic targets (``head``, ``heads``, ``base``, ids, prefixes) as revision ids."""
        if revision in ("heads", "head"):
            if revision == "head" and len(self.heads) > 1:
                raise ConfigError(
                    f"'head' is ambiguous: the history has heads {', '.join(self.heads)}; "
                    "name one revision or use 'heads'."
                )
            return self.heads
        if revision == "base":
            return ()
        return (self.get(revision).revision,)

    def ancestors(self, revisions: Iterable[str]) -> frozenset[str]:
        """The given revisions and everything they depend on, through merges."""
        seen: set[str] = set()
        todo = list(revisions)
        while todo:
            rev = todo.pop()
            if rev in seen:
                continue
            seen.add(rev)
            todo.extend(_compat.all_down_revisions(self.get(rev)))
        return frozenset(seen)

    def irreversible(self, minimum_downgrade_revision: str | None) -> frozenset[str]:
        """Revisions a walk must not downgrade: the floor revision and its ancestors."""
        if minimum_downgrade_revision is None:
            return frozenset()
        floor = self.get(minimum_downgrade_revision).revision
        return self.ancestors([floor])


def _explain(exc: CommandError) -> str:
    text = str(exc)
    if "cycle" in text.lower():
        return f"The revision history has a cycle: {text}. Fix the down_revision values."
    if "not present" in text:
        return f"A down_revision names no revision: {text}. Fix that revision's down_revision."
    if "script_location" in text or "Path doesn't exist" in text:
        return (
            f"{text.rstrip('. ')}. Check script_location in alembic.ini (or pass "
            "script_location=); it must point at the directory that holds env.py."
        )
    return f"Cannot load the migration history: {text}"


_DUPLICATE = re.compile(r"Revision (?P<rev>\S+) is present more than once")
_MISSING = re.compile(r"Revision (?P<missing>\S+) referenced from (?P<source>.*) is not present")


def _from_warnings(
    script: ScriptDirectory | None, caught: list[warnings.WarningMessage]
) -> HistoryError | None:
    """A HistoryError for the alembic warnings that mean the history is broken."""
    for warning in caught:
        text = str(warning.message)
        duplicate = _DUPLICATE.search(text)
        if duplicate:
            rev = duplicate["rev"]
            files = _files_of(script, rev)
            return HistoryError(
                f"Revision id {rev} is declared by more than one file"
                f"{' (' + ', '.join(files) + ')' if files else ''}; alembic would silently "
                "use only one of them. Give each revision file its own `revision = ...` id."
            )
        missing = _MISSING.search(text)
        if missing:
            source = re.search(r"-> (\S+)", missing["source"])
            who = f"revision {source.group(1)}" if source else missing["source"]
            return HistoryError(
                f"A down_revision names no revision: {who} revises {missing['missing']!r}, "
                "which no revision file declares. Fix that revision's down_revision (or "
                "depends_on), or restore the missing revision file."
            )
    return None


def _files_of(script: ScriptDirectory | None, revision: str) -> list[str]:
    """Files declaring ``revision`` (only read on the error path)."""
    if script is None:
        return []
    try:
        return sorted(str(s.path) for s in _compat.load_revisions(script) if s.revision == revision)
    except Exception:  # noqa: BLE001 - only to improve a message
        return []


def _culprit(script: ScriptDirectory | None, exc: BaseException) -> str:
    """`` (revision file X, line N)``: the deepest traceback frame in a version directory."""
    if script is None:
        return ""
    dirs = {Path(p).resolve() for p in _compat.version_locations(script)}
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        path = Path(frame.filename)
        if any(d == path.parent or d in path.parents for d in dirs):
            return f" (revision file {frame.filename}, line {frame.lineno})"
    return ""


def _check_locations(script: ScriptDirectory) -> None:
    """Alembic skips version directories that do not exist; when none does, the history
    would silently be empty and every check would pass on nothing."""
    locations = [Path(p) for p in _compat.version_locations(script)]
    if locations and not any(p.is_dir() for p in locations):
        raise HistoryError(
            f"No revision directory found: {', '.join(str(p) for p in locations)} "
            f"does not exist. Check version_locations in alembic.ini (or create the "
            "directory, for a history with no revisions yet)."
        )


def _check_env_py(script: ScriptDirectory) -> None:
    """Compile env.py now: a missing or unparsable env.py fails before anything is created."""
    path = Path(script.env_py_location)
    try:
        source = path.read_bytes()
    except OSError as exc:
        raise MigrationEnvironmentError(
            f"Cannot read env.py at {path}: {exc.strerror or exc}. The script_location "
            f"({script.dir}) must hold the project's env.py (see `alembic init`)."
        ) from None
    try:
        compile(source, str(path), "exec")
    except SyntaxError as exc:
        raise MigrationEnvironmentError(
            f"env.py at {path} has a syntax error at line {exc.lineno}: {exc.msg}. Fix env.py."
        ) from None

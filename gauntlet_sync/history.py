"""The revision graph, loaded once per run.

Alembic's ``command`` functions rebuild the ``ScriptDirectory`` (and so re-import every
revision file) on each call; a stairway over N revisions would load N² files. Here the
directory and its revision map are built once and every walk is planned from them.
"""

from __future__ import annotations

from collections.abc import Iterable

from alembic.config import Config
from alembic.script import Script, ScriptDirectory
from alembic.util import CommandError

from .errors import ConfigError, HistoryError


class History:
    """Ordered view of one project's revisions."""

    def __init__(self, config: Config) -> None:
        try:
            self.script = ScriptDirectory.from_config(config)
            # Force the whole map now so a broken file fails here, not mid-walk.
            ordered = list(self.script.walk_revisions("base", "heads"))
            self.heads: tuple[str, ...] = tuple(sorted(self.script.get_heads()))
        except CommandError as exc:
            raise HistoryError(_explain(exc)) from exc
        except SyntaxError as exc:
            raise HistoryError(
                f"Revision file {exc.filename} has a syntax error at line {exc.lineno}: "
                f"{exc.msg}. Fix the file; alembic cannot load the history."
            ) from exc
        except ConfigError:
            raise
        except Exception as exc:
            raise HistoryError(
                f"Cannot load the migration history from {self._location(config)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        self.revisions: tuple[Script, ...] = tuple(reversed(ordered))
        self.ids: tuple[str, ...] = tuple(rev.revision for rev in self.revisions)
        self._by_id = {rev.revision: rev for rev in self.revisions}

    @staticmethod
    def _location(config: Config) -> str:
        return str(config.get_main_option("script_location"))

    def __len__(self) -> int:
        return len(self.revisions)

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
            todo.extend(self.get(rev)._all_down_revisions)
        return frozenset(seen)

    def descendants(self, revision: str) -> frozenset[str]:
        """``revision`` and everything that depends on it."""
        found = {revision}
        for rev in self.revisions:  # dependency order: parents come first
            if any(parent in found for parent in rev._all_down_revisions):
                found.add(rev.revision)
        return frozenset(found)

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
    if "is not present" in text or "not present" in text:
        return f"A down_revision names no revision: {text}. Fix that revision's down_revision."
    if "script_location" in text or "Path doesn't exist" in text:
        return (
            f"{text}. Check script_location in alembic.ini (or pass script_location=); "
            "it must point at the directory that holds env.py."
        )
    return f"Cannot load the migration history: {text}"

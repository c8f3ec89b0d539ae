"""The one error hierarchy: every failure gauntlet-sync reports is a ``GauntletError``.

Messages name what broke, where (revision, step, object) and the fix; they never carry a
password (callers pass DSNs through :func:`gauntlet_sync.dsn.mask` first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # report.py imports this module
    from .report import Report

_Failure = TypeVar("_Failure", bound="CheckFailed")


class GauntletError(Exception):
    """Base of every error gauntlet-sync raises."""

    def __reduce__(self) -> tuple[object, ...]:
        # Keep the keyword attributes (revision, step, problems) through pickling: run_all
        # runs some checks in a forked child, whose results come back pickled.
        state = {k: v for k, v in self.__dict__.items() if k != "report"}
        return (_rebuild, (type(self), self.args, state))


def _rebuild(
    cls: type[GauntletError], args: tuple[object, ...], state: dict[str, object]
) -> GauntletError:
    error = cls.__new__(cls, *args)
    error.__dict__.update(state)
    return error


# --- setup and environment -------------------------------------------------------------


class ConfigError(GauntletError):
    """The configuration cannot work: a missing file, a bad option, an unloadable history."""


class DsnError(ConfigError):
    """A connection string that cannot be parsed."""


class MetadataImportError(ConfigError):
    """A ``module:attr`` metadata string that does not lead to a ``MetaData``."""


class HistoryError(ConfigError):
    """The revision history cannot be loaded: bad revision file, cycle, unknown parent."""


class MigrationEnvironmentError(ConfigError):
    """The project's env.py failed before any migration step ran."""


class ChangedSinceError(ConfigError):
    """``changed_since`` cannot be answered: not a git checkout, an unknown ref, no git."""


class ServerNotFoundError(ConfigError):
    """No PostgreSQL server binaries were found for the embedded server."""


class ServerStartError(GauntletError):
    """The embedded PostgreSQL server was found but did not start."""


class DatabaseUnavailableError(GauntletError):
    """The database cannot be reached, refused the login, or went away mid-run."""


class OutsideGuardError(GauntletError):
    """gauntlet-sync's own check of a commit on a user's database (the outside guard)
    could not run: its catalog query failed. The transaction was rolled back, so nothing
    unchecked was committed; the migration is not blamed for it."""


class IsolationError(GauntletError):
    """The isolated schema or database could not be created or dropped."""


# --- schema names (names match alembic-gauntlet's) ---------------------------------------


class SchemaValidationError(ConfigError):
    """A schema name that gauntlet-sync refuses to create or use."""


class EmptySchemaNameError(SchemaValidationError):
    """Schema name is empty."""


class InvalidSchemaNameError(SchemaValidationError):
    """Schema name has an invalid format."""


class SchemaNameTooLongError(SchemaValidationError):
    """Schema name exceeds PostgreSQL's 63-byte identifier limit."""


class ReservedWordSchemaNameError(SchemaValidationError):
    """Schema name is a PostgreSQL reserved word."""


class MissingDowngradeError(GauntletError):
    """A revision file has no ``downgrade()`` function, so ``alembic downgrade`` through
    it fails (alembic's own error is an ``AttributeError`` on the module). The cause of
    the failing downgrade step (in the stairway's and ``downgrade_to_base``'s failures);
    the message names the revision, its file and the two fixes."""


# --- check failures -----------------------------------------------------------------------


class CheckFailed(GauntletError):
    """A check ran and found a problem in the migration history.

    ``check`` names the check, ``revision`` and ``step`` say where (when it applies),
    ``problems`` lists every finding (one line each), ``warnings`` what the check noticed
    that does not fail it.
    """

    #: The name of the check this error class belongs to (``stairway``, ``naming``...).
    check: str = ""
    #: The revision the failure is at, when it is at one.
    revision: str | None
    #: The walk step that failed: ``upgrade``, ``downgrade``, ``re-upgrade``.
    step: str | None
    #: Every finding, one line each (all of them, never just the first).
    problems: tuple[str, ...]
    #: What the check noticed that does not fail it, one line each.
    warnings: tuple[str, ...]

    def __init__(
        self,
        message: str,
        *,
        revision: str | None = None,
        step: str | None = None,
        problems: Sequence[str] = (),
        warnings: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.revision = revision
        self.step = step
        self.problems = tuple(problems)
        self.warnings = tuple(warnings)

    @property
    def message(self) -> str:
        """The message the error was raised with (``str(error)``)."""
        return str(self.args[0]) if self.args else ""

    @classmethod
    def listing(
        cls: type[_Failure],
        headline: str,
        problems: Sequence[str],
        *,
        warnings: Sequence[str] = (),
        **where: str | None,
    ) -> _Failure:
        """A headline and every finding, one per line: all of them, never just the first."""
        body = "\n".join(f"  - {problem}" for problem in problems)
        return cls(f"{headline}:\n{body}", problems=problems, warnings=warnings, **where)


class MultipleHeadsError(CheckFailed):
    """The history has more than one head; ``problems`` lists them."""

    check = "single_head"


class UpgradeError(CheckFailed):
    """A revision failed to upgrade (``revision`` names it)."""

    check = "upgrade"


class StairwayError(CheckFailed):
    """A revision failed its upgrade, downgrade or re-upgrade (``step`` says which)."""

    check = "stairway"


class DowngradeError(CheckFailed):
    """A revision failed to downgrade on the way from head to base."""

    check = "downgrade_to_base"


class SchemaDriftError(CheckFailed):
    """Autogenerate finds differences between the migrated schema and the models."""

    check = "models_match"


class CheckConstraintDriftError(CheckFailed):
    """CHECK constraint names differ between the migrated schema and the models."""

    check = "check_constraints"


class EnumDriftError(CheckFailed):
    """Native enum labels (or their order) differ from the models'."""

    check = "enums"


class NamingConventionError(CheckFailed):
    """Index or constraint names differ from the models' (or break the naming rules)."""

    check = "naming"


class DowngradeLeftTraceError(CheckFailed):
    """A downgrade did not restore the catalog its upgrade started from."""

    check = "no_trace"


class IsolationEscapeError(CheckFailed):
    """A migration created or changed objects outside the isolated schema."""

    check = "isolation"


class MigrationSafetyError(CheckFailed):
    """A revision would lock, rewrite or scan a table that exists in production: seen
    on the server (its locks, relfilenodes, validated constraints), not guessed."""

    check = "safety"


class OfflineRenderError(CheckFailed):
    """A revision cannot be rendered as SQL in alembic's offline mode (``--sql``): it
    needs a live connection (reads through ``op.get_bind()``, reflection)."""

    check = "offline"


class GauntletFailed(CheckFailed):
    """``run_all`` found failures; ``report`` holds every result, ``errors`` the failures."""

    check = "run_all"
    #: The whole run's :class:`~gauntlet_sync.Report`, passed checks included.
    report: Report
    #: The errors of the checks that failed or could not run, in check order.
    errors: tuple[GauntletError, ...]

    def __init__(self, message: str, *, report: Report, errors: Sequence[GauntletError]) -> None:
        super().__init__(message)
        self.report = report
        self.errors = tuple(errors)


class GauntletWarning(UserWarning):
    """A check's warning (e.g. an explicit name breaking the models' own convention),
    issued by the TestCase mixin so that pytest lists it; never a failure."""


class CheckSkipped(GauntletError):
    """A check had nothing to examine (no metadata, no revisions); the message says why."""

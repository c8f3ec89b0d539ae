"""The one error hierarchy: every failure gauntlet-sync reports is a ``GauntletError``.

Messages name what broke, where (revision, step, object) and the fix; they never carry a
password (callers pass DSNs through :func:`gauntlet_sync.dsn.mask` first).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

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


class ServerNotFoundError(ConfigError):
    """No PostgreSQL server binaries were found for the embedded server."""


class ServerStartError(GauntletError):
    """The embedded PostgreSQL server was found but did not start."""


class DatabaseUnavailableError(GauntletError):
    """The database cannot be reached, refused the login, or went away mid-run."""


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


# --- check failures -----------------------------------------------------------------------


class CheckFailed(GauntletError):
    """A check ran and found a problem in the migration history.

    ``check`` names the check, ``revision`` and ``step`` say where (when it applies),
    ``problems`` lists every finding (one line each).
    """

    check: str = ""

    def __init__(
        self,
        message: str,
        *,
        revision: str | None = None,
        step: str | None = None,
        problems: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.revision = revision
        self.step = step
        self.problems: tuple[str, ...] = tuple(problems)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    @classmethod
    def listing(
        cls: type[_Failure], headline: str, problems: Sequence[str], **where: str | None
    ) -> _Failure:
        """A headline and every finding, one per line: all of them, never just the first."""
        body = "\n".join(f"  - {problem}" for problem in problems)
        return cls(f"{headline}:\n{body}", problems=problems, **where)


class MultipleHeadsError(CheckFailed):
    check = "single_head"


class UpgradeError(CheckFailed):
    check = "upgrade"


class StairwayError(CheckFailed):
    check = "stairway"


class DowngradeError(CheckFailed):
    check = "downgrade_to_base"


class SchemaDriftError(CheckFailed):
    check = "models_match"


class CheckConstraintDriftError(CheckFailed):
    check = "check_constraints"


class EnumDriftError(CheckFailed):
    check = "enums"


class NamingConventionError(CheckFailed):
    check = "naming"


class DowngradeLeftTraceError(CheckFailed):
    check = "no_trace"


class IsolationEscapeError(CheckFailed):
    """A migration created or changed objects outside the isolated schema."""

    check = "isolation"


class GauntletFailed(CheckFailed):
    """``run_all`` found failures; ``report`` holds every result, ``errors`` the failures."""

    check = "run_all"

    def __init__(self, message: str, *, report: object, errors: Sequence[GauntletError]) -> None:
        super().__init__(message)
        self.report = report
        self.errors: tuple[GauntletError, ...] = tuple(errors)


class CheckSkipped(GauntletError):
    """A check had nothing to examine (no metadata, no revisions); the message says why."""

"""gauntlet-sync: put an Alembic migration history through a gauntlet of checks on PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checks import CHECK_NAMES, DEFAULT_CHECKS
from .config import DEFAULT_IGNORE_TABLES, GauntletConfig, NamingRule
from .database import cleanup_stale
from .errors import (
    ChangedSinceError,
    CheckConstraintDriftError,
    CheckFailed,
    CheckSkipped,
    ConfigError,
    DatabaseUnavailableError,
    DowngradeError,
    DowngradeLeftTraceError,
    DsnError,
    EmptySchemaNameError,
    EnumDriftError,
    GauntletError,
    GauntletFailed,
    GauntletWarning,
    HistoryError,
    InvalidSchemaNameError,
    IsolationError,
    IsolationEscapeError,
    MetadataImportError,
    MigrationEnvironmentError,
    MigrationSafetyError,
    MissingDowngradeError,
    MultipleHeadsError,
    NamingConventionError,
    OfflineRenderError,
    OutsideGuardError,
    ReservedWordSchemaNameError,
    SchemaDriftError,
    SchemaNameTooLongError,
    SchemaValidationError,
    ServerNotFoundError,
    ServerStartError,
    StairwayError,
    UpgradeError,
)
from .gauntlet import Gauntlet, ProgressEvent
from .isolated import IsolatedDatabase
from .janitor import validate_schema_name
from .report import CheckResult, CheckStarted, Report
from .scope import WalkScope
from .session import Progress, Step
from .testcase import GauntletMixin

if TYPE_CHECKING:
    from .server import EmbeddedPostgres

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    """``EmbeddedPostgres`` is imported on first use: with a DSN given, neither the server
    modules nor testing.postgresql are ever loaded."""
    if name == "EmbeddedPostgres":
        from .server import EmbeddedPostgres

        return EmbeddedPostgres
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CHECK_NAMES",
    "DEFAULT_CHECKS",
    "DEFAULT_IGNORE_TABLES",
    "ChangedSinceError",
    "CheckConstraintDriftError",
    "CheckFailed",
    "CheckResult",
    "CheckSkipped",
    "CheckStarted",
    "ConfigError",
    "DatabaseUnavailableError",
    "DowngradeError",
    "DowngradeLeftTraceError",
    "DsnError",
    "EmbeddedPostgres",
    "EmptySchemaNameError",
    "EnumDriftError",
    "Gauntlet",
    "GauntletConfig",
    "GauntletError",
    "GauntletFailed",
    "GauntletMixin",
    "GauntletWarning",
    "HistoryError",
    "InvalidSchemaNameError",
    "IsolatedDatabase",
    "IsolationError",
    "IsolationEscapeError",
    "MetadataImportError",
    "MigrationEnvironmentError",
    "MigrationSafetyError",
    "MissingDowngradeError",
    "MultipleHeadsError",
    "OfflineRenderError",
    "NamingConventionError",
    "NamingRule",
    "OutsideGuardError",
    "Progress",
    "ProgressEvent",
    "Report",
    "ReservedWordSchemaNameError",
    "SchemaDriftError",
    "SchemaNameTooLongError",
    "SchemaValidationError",
    "ServerNotFoundError",
    "ServerStartError",
    "StairwayError",
    "Step",
    "UpgradeError",
    "WalkScope",
    "__version__",
    "cleanup_stale",
    "validate_schema_name",
]

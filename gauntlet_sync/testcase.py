"""``GauntletMixin``: the gauntlet as one ``unittest`` test method per check.

Mix it into ``unittest.TestCase`` (or Django's ``SimpleTestCase``); every runner that
speaks unittest (``python -m unittest``, pytest, Django's ``DiscoverRunner``) then runs
the checks as ordinary tests::

    class MigrationTests(GauntletMixin, unittest.TestCase):
        gauntlet_config = GauntletConfig(
            alembic_ini="alembic.ini", metadata="app.models:Base.metadata"
        )

How outcomes map to unittest:

* the check passed -> the test passes;
* the check failed -> a *failure* whose message is the typed error's message;
* the check was skipped (no revisions, no models) -> a *skip* with its reason;
* the check could not run because another part of the history broke (an upgrade that
  fails leaves no schema to compare models with) -> a *failure* ``"could not run: ..."``
  carrying the blocking error's message: the history under test is at fault;
* anything else (unreachable database, a broken configuration, env.py that cannot load)
  -> the ``GauntletError`` is raised, a unittest *error*: the test could not be judged.

By default (``gauntlet_share_run = True``) the first check test of a class starts every
enabled check at once through :meth:`Gauntlet.run_all`, which shares upgrades and walks,
in a forked child (:mod:`gauntlet_sync.shared_run`); each test waits only until its own
check's result is in, so each carries its own share of the time in ``--durations`` and
JUnit. Without fork, the first test runs the whole run itself. With
``gauntlet_share_run = False`` each test calls its own ``Gauntlet.check_*`` method:
slower (one upgrade per check).

Progress goes to stderr on request (``gauntlet_progress = True`` or
``GAUNTLET_PROGRESS=1``). Logging is left to the test runner.
"""

from __future__ import annotations

import os
import sys
import unittest
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from .checks import CHECK_NAMES, CHECKS, TEST_METHODS
from .config import GauntletConfig, NamingRule
from .database import DSN_ENV, dsn_or_environment
from .errors import CheckFailed, CheckSkipped, ConfigError, GauntletWarning
from .gauntlet import Gauntlet
from .report import CheckResult, Report
from .shared_run import SharedRun

__all__ = ["DSN_ENV", "PROGRESS_ENV", "TEST_METHODS", "GauntletMixin"]

#: ``GAUNTLET_PROGRESS=1`` turns the mixin's progress lines on (``gauntlet_progress=None``).
PROGRESS_ENV = "GAUNTLET_PROGRESS"

# unittest leaves this module's frames out of failure tracebacks: the message says it all.
__unittest = True


_CHECK_OF_METHOD = {method: check for check, method in TEST_METHODS.items()}


class GauntletMixin:
    """One test per gauntlet check, on one :class:`Gauntlet` per test class.

    Class attributes:

    * ``gauntlet_config`` (required): the :class:`GauntletConfig`.
    * ``gauntlet_dsn``: the database; ``None`` reads ``GAUNTLET_DSN``, else the embedded
      server is used.
    * ``gauntlet_skip_checks``: check names (or test method names) to switch off; setting a
      test method to ``None`` in the subclass does the same.
    * ``gauntlet_config_overrides``: ``GauntletConfig`` fields to change for this class.
    * ``migration_diff_ignore_tables``, ``allowed_index_prefixes``,
      ``allowed_index_suffixes``, ``allowed_fk_suffixes``: the alembic-gauntlet attributes,
      mapped to ``ignore_tables`` and the ``ix`` / ``fk`` naming rules (each replaces the
      config's value; ``None`` keeps it).
    * ``gauntlet_share_run``: one shared ``run_all`` per class (default; each test waits
      for its own check's result) or one ``check_*`` call per test.
    * ``gauntlet_progress``: ``True`` prints each check's start and end and each walk's
      progress to stderr, as the command line does off a terminal; ``None`` (default)
      reads ``GAUNTLET_PROGRESS`` (``1``/``true``/``yes``/``on``).

    The tests: ``test_single_head_revision``, ``test_upgrade``,
    ``test_stairway_upgrade_downgrade``, ``test_downgrade_all_the_way``,
    ``test_migrations_up_to_date``, ``test_check_constraints_match``,
    ``test_enum_values_match``, ``test_naming_conventions``,
    ``test_downgrade_leaves_no_trace``, ``test_migrations_stay_isolated`` (one per check of
    :data:`gauntlet_sync.CHECK_NAMES`).

    ``self.gauntlet`` is the open :class:`Gauntlet`, for tests of your own.
    """

    # Not a test case by itself, under any runner; __init_subclass__ re-enables subclasses.
    __test__: ClassVar[bool] = False

    gauntlet_config: ClassVar[GauntletConfig | None] = None
    gauntlet_dsn: ClassVar[str | None] = None
    gauntlet_skip_checks: ClassVar[Sequence[str]] = ()
    gauntlet_config_overrides: ClassVar[Mapping[str, Any]] = {}
    gauntlet_share_run: ClassVar[bool] = True
    gauntlet_progress: ClassVar[bool | None] = None
    #: GauntletConfig.keep_going: the stairway and no_trace report every failing revision.
    gauntlet_keep_going: ClassVar[bool | None] = None
    migration_diff_ignore_tables: ClassVar[Sequence[str] | None] = None
    allowed_index_prefixes: ClassVar[Sequence[str] | None] = None
    allowed_index_suffixes: ClassVar[Sequence[str] | None] = None
    allowed_fk_suffixes: ClassVar[Sequence[str] | None] = None

    gauntlet: ClassVar[Gauntlet]
    _gauntlet_run: ClassVar[SharedRun | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = issubclass(cls, unittest.TestCase)

    # -- class fixture ------------------------------------------------------------------

    @classmethod
    def setUpClass(cls) -> None:
        """Open the class's :class:`Gauntlet` (closed by a class cleanup, even on errors)."""
        super().setUpClass()  # type: ignore[misc]
        cls._gauntlet_skipped()  # unknown names fail here, once, not in every test
        cls._gauntlet_run = None
        cls.gauntlet = cls.gauntlet_open()
        cls.addClassCleanup(cls._gauntlet_close)  # type: ignore[attr-defined]

    @classmethod
    def gauntlet_open(cls) -> Gauntlet:
        """The class's Gauntlet, with progress on stderr when asked for
        (``gauntlet_progress``); override to pass a ``progress`` callback of your own."""
        dsn = dsn_or_environment(cls.gauntlet_dsn)
        progress = _stderr_progress(dsn) if cls.gauntlet_wants_progress() else None
        return Gauntlet(dsn, cls.gauntlet_effective_config(), progress=progress)

    @classmethod
    def gauntlet_wants_progress(cls) -> bool:
        """``gauntlet_progress``, or when it is ``None`` the ``GAUNTLET_PROGRESS`` variable."""
        if cls.gauntlet_progress is not None:
            return cls.gauntlet_progress
        return os.environ.get(PROGRESS_ENV, "").strip().lower() in ("1", "true", "yes", "on")

    @classmethod
    def _gauntlet_close(cls) -> None:
        run, cls._gauntlet_run = cls._gauntlet_run, None
        if run is not None:
            run.stop()
        gauntlet = cls.__dict__.get("gauntlet")
        if gauntlet is not None:
            gauntlet.close()
            del cls.gauntlet

    @classmethod
    def gauntlet_effective_config(cls) -> GauntletConfig:
        """``gauntlet_config`` with this class's overrides applied (a clear error if unset)."""
        base = cls.gauntlet_config
        if not isinstance(base, GauntletConfig):
            raise ConfigError(
                f"{cls.__qualname__}.gauntlet_config is "
                f"{'not set' if base is None else f'a {type(base).__name__}'}: give the class "
                "gauntlet_config = GauntletConfig(alembic_ini=..., metadata=...)."
            )
        changes: dict[str, Any] = {}
        if cls.migration_diff_ignore_tables is not None:
            changes["ignore_tables"] = frozenset(cls.migration_diff_ignore_tables)
        rules = dict(base.naming_rules)
        if cls.allowed_index_prefixes is not None or cls.allowed_index_suffixes is not None:
            current = rules.get("ix", NamingRule())
            rules["ix"] = NamingRule(
                prefixes=_tuple_or(cls.allowed_index_prefixes, current.prefixes),
                suffixes=_tuple_or(cls.allowed_index_suffixes, current.suffixes),
            )
        if cls.allowed_fk_suffixes is not None:
            current = rules.get("fk", NamingRule())
            rules["fk"] = NamingRule(
                prefixes=current.prefixes, suffixes=tuple(cls.allowed_fk_suffixes)
            )
        if rules != dict(base.naming_rules):
            changes["naming_rules"] = rules
        if cls.gauntlet_keep_going is not None:
            changes["keep_going"] = cls.gauntlet_keep_going
        changes.update(cls.gauntlet_config_overrides)
        try:
            return base.replace(**changes)
        except TypeError as exc:  # an unknown field in gauntlet_config_overrides
            raise ConfigError(
                f"{cls.__qualname__}.gauntlet_config_overrides: {exc}. "
                "Use GauntletConfig field names."
            ) from None

    @classmethod
    def gauntlet_enabled_checks(cls) -> list[str]:
        """The checks this class runs: on by default, its test method is set and it is not
        switched off."""
        skipped = cls._gauntlet_skipped()
        return [
            name
            for name, method in TEST_METHODS.items()
            if CHECKS[name].default and callable(getattr(cls, method, None)) and name not in skipped
        ]

    @classmethod
    def _gauntlet_skipped(cls) -> set[str]:
        names = {_CHECK_OF_METHOD.get(n, n) for n in cls.gauntlet_skip_checks}
        unknown = sorted(names - set(CHECK_NAMES))
        if unknown:
            raise ConfigError(
                f"{cls.__qualname__}.gauntlet_skip_checks has unknown check(s) "
                f"{', '.join(unknown)}. Known checks: {', '.join(CHECK_NAMES)} (or their test "
                "method names)."
            )
        return names

    @classmethod
    def gauntlet_report(cls) -> Report:
        """The shared run of every enabled check (waits for all of it)."""
        checks = cls.gauntlet_enabled_checks()
        return Report([cls.gauntlet_result(name) for name in checks])

    @classmethod
    def gauntlet_result(cls, name: str) -> CheckResult:
        """Check ``name``'s result from the shared run, started on first use; waits only
        until that check is done (raises what stopped the run, e.g. a lost database)."""
        if cls._gauntlet_run is None:
            cls._gauntlet_run = SharedRun(cls.gauntlet, cls.gauntlet_enabled_checks())
        return cls._gauntlet_run.result(name)

    # -- the checks as tests ----------------------------------------------------------------

    def _gauntlet_assert(self, name: str) -> None:
        """Turn check ``name``'s outcome into a pass, failure, skip or error."""
        __tracebackhide__ = True  # pytest: the same
        case: Any = self
        if name in self._gauntlet_skipped():
            case.skipTest(f"{name} is switched off by gauntlet_skip_checks")
        if not CHECKS[name].default:
            case.skipTest(f"{name} is not in run_all's default set")
        if self.gauntlet_share_run:
            result = self.gauntlet_result(name)
        else:
            result = _run_alone(name, getattr(self.gauntlet, f"check_{name}"))
        for warning in result.warnings:  # pytest lists them in its warnings summary
            warnings.warn(GauntletWarning(f"{name}: {warning}"), stacklevel=2)
        if result.status == "skipped":
            case.skipTest(result.reason)
        failure = _failure_message(result)
        if failure is not None:
            case.fail(failure)

    # One test method per check (checks.TEST_METHODS), added below the class.


def _check_test(name: str) -> Callable[[GauntletMixin], None]:
    def test(self: Any) -> None:
        self._gauntlet_assert(name)

    test.__name__ = test.__qualname__ = TEST_METHODS[name]
    # No docstring: unittest's verbose output would print it in place of "... ok".
    return test


for _name in CHECK_NAMES:
    setattr(GauntletMixin, TEST_METHODS[_name], _check_test(_name))


def _run_alone(name: str, check: Callable[[], object]) -> CheckResult:
    """Run one ``check_*`` method and describe its outcome like ``run_all`` does."""
    try:
        found = check()
    except CheckSkipped as exc:
        return CheckResult(name, "skipped", reason=str(exc))
    except CheckFailed as exc:
        failed = exc.check == name
        return CheckResult(
            name,
            "failed" if failed else "error",
            error=exc,
            warnings=exc.warnings if failed else (),
        )
    return CheckResult(name, "passed", warnings=tuple(found) if isinstance(found, list) else ())


def _failure_message(result: CheckResult) -> str | None:
    """``None`` if the check passed; the failure message if the history is at fault.

    Errors that say nothing about the history (no database, broken setup) are raised.
    """
    if result.status in ("passed", "skipped"):
        return None
    error = result.error
    if result.status == "failed":  # a CheckFailed of this very check
        return str(error)
    if error is not None and not isinstance(error, CheckFailed):
        raise error
    message = str(error) if error is not None else result.reason
    return message if message.startswith("could not run") else f"could not run: {message}"


def _stderr_progress(dsn: str | None) -> Callable[[Any], None]:
    """The command line's plain progress lines, on the process's own stderr (not a runner's
    buffer), passwords scrubbed."""
    from .cli import Output, ProgressPrinter, _secret_of  # cli imports the package

    return ProgressPrinter(Output(sys.__stderr__ or sys.stderr, _secret_of(dsn)))


def _tuple_or(value: Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return default if value is None else tuple(value)

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

Long histories: ``gauntlet_shards = n`` walks the stairway (with no_trace and safety on
it) as ``n`` test methods, ``test_stairway_shard_<k>_of_<n>``, each walking one of ``n``
ranges of the history from a state built by one upgrade transaction (``GauntletConfig``'s
``shard``), in its own isolated schema. Shard 1's method is on the class; each other
shard's is alone on a generated subclass ``<Class>_shard_<k>_of_<n>`` in the same module,
because Django's ``--parallel`` and unittest-parallel hand out whole classes to their
processes (pytest-xdist hands out single tests). The walk checks' own test methods then
skip, naming the shard tests.
"""

from __future__ import annotations

import contextlib
import os
import sys
import unittest
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

from .checks import CHECK_NAMES, CHECKS, TEST_METHODS, WalkCheck
from .config import GauntletConfig, NamingRule
from .database import DSN_ENV, dsn_or_environment
from .errors import CheckFailed, CheckSkipped, ConfigError, GauntletError, GauntletWarning
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
    * ``gauntlet_extra_checks``: checks off by default to run too (``["offline"]``); the
      config's ``extra_checks`` when ``None``.
    * ``gauntlet_share_run``: one shared ``run_all`` per class (default; each test waits
      for its own check's result) or one ``check_*`` call per test.
    * ``gauntlet_progress``: ``True`` prints each check's start and end and each walk's
      progress to stderr, as the command line does off a terminal; ``None`` (default)
      reads ``GAUNTLET_PROGRESS`` (``1``/``true``/``yes``/``on``).
    * ``gauntlet_keep_going``, ``gauntlet_changed_since``, ``gauntlet_safety_rows``:
      ``GauntletConfig.keep_going``, ``changed_since`` and ``safety_rows`` for this class
      (``None`` keeps the config's; ``gauntlet_safety_rows = False`` switches safety's
      generated rows off).
    * ``gauntlet_shards``: ``n`` > 1 walks the history in ``n`` shard test methods
      (``test_stairway_shard_<k>_of_<n>``) that parallel runners spread over processes.

    The tests: ``test_single_head_revision``, ``test_upgrade``,
    ``test_stairway_upgrade_downgrade``, ``test_downgrade_all_the_way``,
    ``test_migrations_up_to_date``, ``test_check_constraints_match``,
    ``test_enum_values_match``, ``test_naming_conventions``,
    ``test_downgrade_leaves_no_trace``, ``test_migrations_are_safe``,
    ``test_migrations_render_offline`` (skipped unless ``offline`` is turned on:
    ``gauntlet_extra_checks`` or the config's ``extra_checks``),
    ``test_migrations_stay_isolated`` (one per check of
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
    #: GauntletConfig.changed_since: walk only what changed since this git ref.
    gauntlet_changed_since: ClassVar[str | None] = None
    #: GauntletConfig.safety_rows: False switches safety's generated rows off.
    gauntlet_safety_rows: ClassVar[bool | None] = None
    #: n > 1: the walk checks run as n shard test methods (one walk range each).
    gauntlet_shards: ClassVar[int] = 1
    #: GauntletConfig.extra_checks: checks off by default to run too (e.g. ["offline"]).
    gauntlet_extra_checks: ClassVar[Sequence[str] | None] = None
    migration_diff_ignore_tables: ClassVar[Sequence[str] | None] = None
    allowed_index_prefixes: ClassVar[Sequence[str] | None] = None
    allowed_index_suffixes: ClassVar[Sequence[str] | None] = None
    allowed_fk_suffixes: ClassVar[Sequence[str] | None] = None

    gauntlet: ClassVar[Gauntlet]
    _gauntlet_run: ClassVar[SharedRun | None] = None

    #: on a generated shard class: the shard it walks, and the class it was made from.
    _gauntlet_shard_only: ClassVar[int | None] = None
    _gauntlet_shard_source: ClassVar[type[GauntletMixin] | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "__test__" not in cls.__dict__:
            cls.__test__ = issubclass(cls, unittest.TestCase)
        if cls.__dict__.get("_gauntlet_shard_only") is None:
            _add_shard_tests(cls)

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
        if cls.gauntlet_changed_since is not None:
            changes["changed_since"] = cls.gauntlet_changed_since
        if cls.gauntlet_extra_checks is not None:
            changes["extra_checks"] = tuple(cls.gauntlet_extra_checks)
        if cls.gauntlet_safety_rows is not None:
            changes["safety_rows"] = cls.gauntlet_safety_rows
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
        source = cls._gauntlet_shard_source or cls
        sharded = _sharded(source)
        return [
            name
            for name, method in TEST_METHODS.items()
            if source._gauntlet_wanted(name)
            and callable(getattr(source, method, None))
            and name not in skipped
            and not (sharded and isinstance(CHECKS[name], WalkCheck))
        ]

    @classmethod
    def gauntlet_walk_checks(cls) -> list[str]:
        """The walk checks the shard tests run (those enabled on the class)."""
        source = cls._gauntlet_shard_source or cls
        skipped = source._gauntlet_skipped()
        return [
            name
            for name, method in TEST_METHODS.items()
            if isinstance(CHECKS[name], WalkCheck)
            and source._gauntlet_wanted(name)
            and callable(getattr(source, method, None))
            and name not in skipped
        ]

    def gauntlet_shard(self, index: int, total: int) -> Report:
        """Walk shard ``index`` of ``total`` with the enabled walk checks, in a Gauntlet
        of its own (own isolated schema; this process's embedded server or the DSN)."""
        config = self.gauntlet_effective_config().replace(shard=(index, total))
        dsn = dsn_or_environment(self.gauntlet_dsn)
        progress = _stderr_progress(dsn) if self.gauntlet_wants_progress() else None
        with Gauntlet(dsn, config, progress=progress) as gauntlet:
            return gauntlet.run_all(self.gauntlet_walk_checks(), raise_on_failure=False)

    @classmethod
    def _gauntlet_wanted(cls, name: str) -> bool:
        """In run_all's default set, or turned on by the config's ``extra_checks``."""
        return CHECKS[name].default or name in _extra_checks(cls)

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
        if not self._gauntlet_wanted(name):
            case.skipTest(
                f"{name} is not in run_all's default set (turn it on with "
                f"GauntletConfig(extra_checks=[{name!r}]) or gauntlet_extra_checks)"
            )
        if isinstance(CHECKS[name], WalkCheck) and _sharded(type(self)):
            total = self.gauntlet_shards
            case.skipTest(
                f"{name} runs in the {total} shard tests test_stairway_shard_1_of_{total} .. "
                f"test_stairway_shard_{total}_of_{total} (gauntlet_shards = {total})"
            )
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

    def _gauntlet_assert_shard(self, index: int, total: int) -> None:
        """Shard ``index``'s walk: failed walk checks fail the test, all skipped skips it."""
        __tracebackhide__ = True
        case: Any = self
        if not self.gauntlet_walk_checks():
            case.skipTest("every walk check is switched off")
        if type(self)._gauntlet_run is not None:
            # The class's shared run is under way on the same server: its isolation
            # check would see this walk's schema appear beside its own. It goes first.
            with contextlib.suppress(GauntletError):  # its own tests report what stopped it
                self.gauntlet_report()
        report = self.gauntlet_shard(index, total)
        failures = []
        for result in report.results:
            for warning in result.warnings:
                warnings.warn(GauntletWarning(f"{result.name}: {warning}"), stacklevel=2)
            failure = _failure_message(result)
            if failure is not None:
                failures.append(f"{result.name}: {failure}")
        if failures:
            case.fail(f"shard {index} of {total}:\n" + "\n\n".join(failures))
        if all(r.status == "skipped" for r in report.results):
            case.skipTest(report.results[0].reason if report.results else "nothing to walk")

    # One test method per check (checks.TEST_METHODS), added below the class.


def _check_test(name: str) -> Callable[[GauntletMixin], None]:
    def test(self: Any) -> None:
        self._gauntlet_assert(name)

    test.__name__ = test.__qualname__ = TEST_METHODS[name]
    # No docstring: unittest's verbose output would print it in place of "... ok".
    return test


for _name in CHECK_NAMES:
    setattr(GauntletMixin, TEST_METHODS[_name], _check_test(_name))


def _sharded(cls: type[GauntletMixin]) -> bool:
    return (cls._gauntlet_shard_source or cls).gauntlet_shards > 1


def shard_test_name(index: int, total: int) -> str:
    """The name of shard ``index``'s test method: ``test_stairway_shard_<i>_of_<n>``."""
    return f"test_stairway_shard_{index}_of_{total}"


def _shard_test(index: int, total: int) -> Callable[[GauntletMixin], None]:
    def test(self: Any) -> None:
        self._gauntlet_assert_shard(index, total)

    test.__name__ = test.__qualname__ = shard_test_name(index, total)
    return test


def _add_shard_tests(cls: type[GauntletMixin]) -> None:
    """Shard 1's test on ``cls``; each other shard's alone on a subclass placed in
    ``cls``'s module, so that runners handing out whole classes spread the shards too."""
    total = cls.gauntlet_shards
    if not isinstance(total, int) or isinstance(total, bool) or total < 1:
        raise ConfigError(f"{cls.__qualname__}.gauntlet_shards must be a whole number >= 1.")
    if total == 1 or not issubclass(cls, unittest.TestCase):
        return
    setattr(cls, shard_test_name(1, total), _shard_test(1, total))
    module = sys.modules.get(cls.__module__)
    for index in range(2, total + 1):
        name = f"{cls.__name__}_shard_{index}_of_{total}"
        attrs: dict[str, Any] = {
            "__module__": cls.__module__,
            "__qualname__": name,
            "__doc__": f"Shard {index} of {total} of {cls.__qualname__}'s walk.",
            "__test__": cls.__test__,  # a class kept from collection keeps its shards out
            "_gauntlet_shard_only": index,
            "_gauntlet_shard_source": cls,
        }
        attrs.update(dict.fromkeys((n for n in dir(cls) if n.startswith("test")), None))
        attrs[shard_test_name(index, total)] = _shard_test(index, total)
        made = type(name, (cls,), attrs)
        if module is not None:
            setattr(module, name, made)


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


def _extra_checks(cls: type[GauntletMixin]) -> tuple[str, ...]:
    """The class's extra checks: ``gauntlet_extra_checks``, else the config's."""
    if cls.gauntlet_extra_checks is not None:
        return tuple(cls.gauntlet_extra_checks)
    overrides = cls.gauntlet_config_overrides.get("extra_checks")
    if overrides is not None:
        return tuple(overrides)
    config = cls.gauntlet_config
    return tuple(config.extra_checks) if isinstance(config, GauntletConfig) else ()


def _tuple_or(value: Sequence[str] | None, default: tuple[str, ...]) -> tuple[str, ...]:
    return default if value is None else tuple(value)

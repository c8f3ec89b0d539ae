"""The checks: one module each, registered below; everything else derives from here.

``CHECK_NAMES`` (and so ``run_all``'s checks and their order in reports, the CLI's
``--only`` / ``--skip`` names), ``run_all``'s groups (see :mod:`gauntlet_sync.scheduler`),
``GauntletMixin``'s test methods (``TEST_METHODS``) and the standalone
``Gauntlet.check_<name>()`` all read :data:`CHECKS`.

A check is one of three shapes (:mod:`.base`), by what it needs prepared:

* ``HistoryCheck`` (needs ``"nothing"`` or ``"history"``): ``run(ctx)``, no database
  (``single_head``).
* ``HeadCheck`` (needs ``"head"``): ``run(ctx, session)`` on a schema upgraded to the heads,
  one upgrade shared by every head check in ``run_all``. ``stage`` places it: ``prepare``
  (the upgrade itself), ``guard`` (in the parent before anything forks: ``isolation``),
  ``read`` (only reads the state; may run in a forked child beside the walk), ``consume``
  (changes the state, after every read: ``downgrade_to_base``).
* ``WalkCheck`` (needs ``"walk"``): rides the stairway that every walk check shares.
  ``hooks(ctx, session)`` returns fresh :class:`~gauntlet_sync.walks.CheckHooks` for one
  walk (``before`` / ``after`` each step, on the migration connection inside the step's
  transaction; ``wants_locks`` / ``end_of_step``: the step's locks, read once per step for
  every hook that asks, and ``data()``: what they saw, picklable); ``judge(ctx, outcome)`` turns
  the walk's outcome (``outcome.failure``, ``outcome.data[name]``) into an error or
  ``None``; ``merge(first, second)`` joins the data of a walk split between two processes
  (set ``heavy_hooks`` when the hooks cost more than the steps: only then is a long walk
  split).

Code raises (or, for a walk check, returns) its ``error`` class, a ``CheckFailed`` whose
``check`` is the check's name, or ``CheckSkipped`` with the reason when there is nothing
to examine. ``ctx`` (:class:`~gauntlet_sync.context.RunContext`) has the config, history,
models and the shared steps (``upgrade``, ``walk``, ``models``, ``escapes``).

How to add a check ``my_check``:

1. Write ``gauntlet_sync/checks/my_check.py``: the error class (or one from ``errors``,
   ``check = "my_check"``), a subclass of one of the three shapes with ``name``,
   ``test_method`` (e.g. ``"test_my_check"``), ``error``, ``default`` (on in ``run_all``'s
   default set?) and its code, and ``CHECK = MyCheck()`` at the end.
2. Register it: import the module below and put it in ``_MODULES`` (the position is its
   place in reports). Export a public error class from ``gauntlet_sync/__init__.py``.
3. Give ``Gauntlet`` its documented one-liner ``check_my_check()``, add a row to the
   README's table (and its test method to the README's list), and add histories that
   break it (and only it) to ``tests/``. ``tests/test_docs.py`` fails until the first
   two are there and agree with the registry.

``tests/test_checks_registry.py`` proves the first two steps are enough: an example check
added as one module plus its line here appears in ``run_all``, the CLI and the mixin.
"""

from __future__ import annotations

from collections.abc import Mapping

from . import (
    check_constraints,
    downgrade_to_base,
    enums,
    isolation,
    models_match,
    naming,
    no_trace,
    offline,
    safety,
    single_head,
    stairway,
    upgrade,
)
from .base import Check, HeadCheck, HistoryCheck, WalkCheck

__all__ = [
    "CHECKS",
    "CHECK_NAMES",
    "DEFAULT_CHECKS",
    "TEST_METHODS",
    "Check",
    "HeadCheck",
    "HistoryCheck",
    "WalkCheck",
]

#: The registration: every check's module, in report order.
_MODULES = (
    single_head,
    upgrade,
    stairway,
    downgrade_to_base,
    models_match,
    check_constraints,
    enums,
    naming,
    no_trace,
    safety,
    offline,
    isolation,
)


def _registry() -> dict[str, Check]:
    checks: dict[str, Check] = {}
    methods: set[str] = set()
    for module in _MODULES:
        check: Check = module.CHECK
        if check.name in checks or check.test_method in methods:
            raise RuntimeError(f"check {check.name} is registered twice")
        if check.error.check != check.name:
            raise RuntimeError(f"{check.error.__name__}.check must be {check.name!r}")
        checks[check.name] = check
        methods.add(check.test_method)
    return checks


CHECKS: Mapping[str, Check] = _registry()
CHECK_NAMES: tuple[str, ...] = tuple(CHECKS)
#: what ``run_all()`` runs when no checks are named (plus ``GauntletConfig.extra_checks``):
#: every check but the opt-in ones (``offline``).
DEFAULT_CHECKS: tuple[str, ...] = tuple(n for n, c in CHECKS.items() if c.default)
#: check name -> the ``GauntletMixin`` test method that reports it.
TEST_METHODS: Mapping[str, str] = {n: c.test_method for n, c in CHECKS.items()}

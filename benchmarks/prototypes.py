"""Prototype optimisations, applied by monkeypatching (``child.py --patch NAME``).

Nothing here changes gauntlet_sync's files; each patch is measured by ``experiments.py``
and the change it stands for is written up in RESULTS.md.
"""

from __future__ import annotations

from collections.abc import Callable

PATCHES: dict[str, Callable[[], None]] = {}


def patch(name: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        PATCHES[name] = fn
        return fn

    return register


def apply(name: str) -> None:
    PATCHES[name]()


@patch("onetx")
def _onetx() -> None:
    """Informative, NOT a valid change: every walk in one transaction (no per-step commit).

    The library commits after each stairway/downgrade step since 74c67d0 (an enum value
    added by one step must be usable by the next); this measures what those commits cost.
    """
    from gauntlet_sync import walks

    original = walks.walk

    def walk(*args, **kwargs):  # type: ignore[no-untyped-def]
        kwargs["commit_each_step"] = False
        return original(*args, **kwargs)

    walks.walk = walk


# --- no_trace: how much do the catalog snapshots cost? -------------------------------------
# (The digest-first prototype that stood here was measured at -14% and superseded by the
# snapshot statement prepared once per connection: see RESULTS.md.)


@patch("notrace")
def _notrace() -> None:
    """Lower bound, NOT a valid change: the walk group without the snapshots."""
    from gauntlet_sync import scheduler
    from gauntlet_sync.checks import no_trace

    scheduler.SPLIT_WALK_FROM = 10**9  # the split walk exists for the snapshots
    no_trace.NoTrace.hooks = lambda self, ctx, session: None  # type: ignore[method-assign]


# --- the outside guard (issue 13): what does checking every commit cost? -----------------


@patch("noguard")
def _noguard() -> None:
    """Lower bound, NOT a valid change: a user DSN's commits are not checked (the same
    code otherwise), so that the guard's own cost is measured without the rest of the
    library's changes since the base checkout."""
    from gauntlet_sync import outside

    outside.OutsideGuard.before_commit = lambda self, conn: None  # type: ignore[method-assign]

"""The walk plans, built from the revision graph alone: no server needed."""

from __future__ import annotations

from gauntlet_sync import GauntletConfig, Step, walks
from gauntlet_sync.config import load_alembic_config
from gauntlet_sync.history import History
from tests.histories import catalog


def _history(name: str) -> History:
    return History(load_alembic_config(GauntletConfig(alembic_ini=catalog.ini(name))))


def test_the_stairway_goes_up_down_and_up_again_per_revision() -> None:
    history = _history("branched")
    plan = walks.stairway_plan(history, frozenset())
    assert [(s.revision, s.kind) for s in plan[:3]] == [
        (history.ids[0], "upgrade"),
        (history.ids[0], "downgrade"),
        (history.ids[0], "re-upgrade"),
    ]
    assert len(plan) == 3 * len(history.ids)
    assert [s.revision for s in plan[::3]] == list(history.ids)  # dependency order
    assert all(s.direction == ("downgrade" if s.kind == "downgrade" else "upgrade") for s in plan)


def test_irreversible_revisions_are_only_upgraded() -> None:
    history = _history("not_implemented")
    floor = history.irreversible("q1000002")
    assert floor == frozenset(history.ancestors(["q1000002"]))
    plan = walks.stairway_plan(history, floor)
    assert [(s.revision, s.kind) for s in plan if s.revision in floor] == [
        (rev, "upgrade") for rev in history.ids if rev in floor
    ]
    down = walks.downgrade_plan(history, floor)
    assert [s.revision for s in down] == [r for r in reversed(history.ids) if r not in floor]


def test_upgrade_and_downgrade_plans_walk_the_graph_in_order() -> None:
    history = _history("branched")
    assert [s.revision for s in walks.upgrade_plan(history)] == list(history.ids)
    down = walks.downgrade_plan(history, frozenset())
    assert [s.revision for s in down] == list(reversed(history.ids))
    assert {s.kind for s in down} == {"downgrade"}


def test_a_steps_kind_defaults_to_its_direction_and_its_label_is_display_text() -> None:
    assert Step("r1", "downgrade", "downgrade").kind == "downgrade"
    step = Step("r1", "upgrade", "upgrade r1 (inserting revision_data)", "re-upgrade")
    assert step.kind == "re-upgrade" and step.is_upgrade

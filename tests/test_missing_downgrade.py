"""Behavioural: a revision file without ``downgrade()`` (alembic raises a bare
``AttributeError`` on the module) fails the downgrade checks with a typed
:class:`~gauntlet_sync.MissingDowngradeError` naming the revision, its file and the fixes,
and ``minimum_downgrade_revision`` at it makes both checks pass, as the message says. The
history is ``not_implemented`` with q1000002's ``downgrade()`` removed (built in tmp_path)."""

from __future__ import annotations

import shutil
import types
from pathlib import Path

import pytest

from gauntlet_sync import Gauntlet, GauntletConfig, MissingDowngradeError
from gauntlet_sync.session import Step, missing_downgrade
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")


def _history(tmp_path: Path) -> str:
    source = catalog.HISTORIES / "not_implemented"
    shutil.copytree(source / "versions", tmp_path / "versions")
    envs = (catalog.HISTORIES / "_envs").as_posix()
    ini = (source / "alembic.ini").read_text().replace("%(here)s/../_envs", envs)
    (tmp_path / "alembic.ini").write_text(ini)
    revision = tmp_path / "versions" / "q2_merge_customer_names.py"
    text = revision.read_text()
    revision.write_text(text[: text.index("def downgrade()")])
    return str(tmp_path / "alembic.ini")


def test_a_revision_without_downgrade_names_itself_and_the_fix(tmp_path: Path) -> None:
    ini = _history(tmp_path)
    with Gauntlet(None, GauntletConfig(alembic_ini=ini)) as g:
        report = g.run_all(["stairway", "downgrade_to_base"], raise_on_failure=False)
    path = tmp_path / "versions" / "q2_merge_customer_names.py"
    said = (
        f"MissingDowngradeError: revision q1000002 has no downgrade() function ({path}), so "
        "`alembic downgrade` fails there too. Add a downgrade() to that file or, if the "
        "revision is irreversible on purpose, set minimum_downgrade_revision='q1000002' "
        "(CLI: --minimum-downgrade-revision): the walks then stop there"
    )
    for name in ("stairway", "downgrade_to_base"):
        result = report.get(name)
        assert (result.status, result.revision, result.step) == ("failed", "q1000002", "downgrade")
        assert result.problems == (said,)
        assert "AttributeError" not in result.message
    stairway = report.get("stairway").message
    assert f"in step 'downgrade': {said}. 1 later revision was not reached" in stairway
    fixed = GauntletConfig(alembic_ini=ini, minimum_downgrade_revision="q1000002")
    with Gauntlet(None, fixed) as g:
        report = g.run_all(["stairway", "downgrade_to_base"], raise_on_failure=False)
    assert [r.status for r in report.results] == ["passed", "passed"]


def test_only_alembics_missing_attribute_is_translated() -> None:
    """An AttributeError raised inside a downgrade that exists, or an upgrade step's, stays
    the migration's own error."""
    module = types.ModuleType("rev")
    module.revision = "abc"  # type: ignore[attr-defined]
    down = Step("abc", "downgrade", "downgrade")
    try:
        module.downgrade  # type: ignore[attr-defined]  # noqa: B018 - alembic's lookup
    except AttributeError as exc:
        found = missing_downgrade(exc, down)
        assert isinstance(found, MissingDowngradeError) and "revision abc has no" in str(found)
        assert missing_downgrade(exc, Step("abc", "upgrade", "upgrade")) is None
    module.downgrade = lambda: None  # type: ignore[attr-defined]
    inner = AttributeError("'NoneType' object has no attribute 'downgrade'")
    assert missing_downgrade(inner, down) is None
    other = AttributeError("x", name="downgrade", obj=module)  # it has one: not alembic's
    assert missing_downgrade(other, down) is None

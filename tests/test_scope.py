"""``changed_since``: only the revisions changed since a git ref, and their descendants.

Each test builds a git repository in a temporary directory holding a copy of the
``clean`` history (4 linear revisions a1000001..a1000004) and the cookbook env.py,
commits it on ``main``, then changes the working tree as a pull request would.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gauntlet_sync import ChangedSinceError, Gauntlet, GauntletConfig, Progress
from gauntlet_sync.cli import main
from tests.git_repo import run_git
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

CLEAN = catalog.HISTORIES / "clean"
ENV = catalog.HISTORIES / "_envs" / "cookbook"
WALKS = ["stairway", "no_trace", "safety", "downgrade_to_base"]
NEW_REVISION = '''"""add a notes table

Revision ID: a1000005
Revises: a1000004
"""

import sqlalchemy as sa
from alembic import op

revision = "a1000005"
down_revision = "a1000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("notes")
'''



def project(tmp_path: Path, *, git: bool = True) -> Path:
    """A copy of the clean history (its own env directory), committed on ``main``."""
    repo = tmp_path / "repo"
    shutil.copytree(CLEAN / "versions", repo / "versions")
    shutil.copytree(ENV, repo / "env")
    ini = (CLEAN / "alembic.ini").read_text()
    ini = ini.replace("%(here)s/../_envs/cookbook", "%(here)s/env")
    (repo / "alembic.ini").write_text(ini)
    if git:
        run_git(repo, "init", "-q", "-b", "main")
        (repo / ".gitignore").write_text("__pycache__/\n")
        run_git(repo, "add", "-A")
        run_git(repo, "commit", "-q", "-m", "history")
    return repo


def config(repo: Path, **changes: object) -> GauntletConfig:
    return GauntletConfig(alembic_ini=str(repo / "alembic.ini"), **changes)  # type: ignore[arg-type]


def walked_by(events: list[object], walk: str) -> list[str]:
    seen: list[str] = []
    for event in events:
        if isinstance(event, Progress) and event.walk == walk:
            if event.step.revision not in seen:
                seen.append(event.step.revision)
    return seen


def change_a3_and_add_a5(repo: Path) -> None:
    a3 = repo / "versions" / "a3_add_order_code.py"
    a3.write_text(a3.read_text() + "\n# reviewed\n")  # uncommitted: a PR's working tree
    (repo / "versions" / "a5_notes.py").write_text(NEW_REVISION)  # untracked


def test_walks_exactly_the_changed_revisions_and_their_descendants(tmp_path: Path) -> None:
    repo = project(tmp_path)
    run_git(repo, "checkout", "-q", "-b", "feature")
    change_a3_and_add_a5(repo)
    events: list[object] = []
    with Gauntlet(None, config(repo, changed_since="main"), progress=events.append) as g:
        report = g.run_all(WALKS, raise_on_failure=False)
    assert {r.name: r.status for r in report.results} == dict.fromkeys(WALKS, "passed")
    assert walked_by(events, "stairway") == ["a1000003", "a1000004", "a1000005"]
    assert walked_by(events, "start state") == ["a1000001", "a1000002"]
    # downgrade_to_base steps down only through them
    assert walked_by(events, "downgrade_to_base") == ["a1000005", "a1000004", "a1000003"]
    scope = report.scope
    assert scope is not None
    assert scope.walked == ("a1000003", "a1000004", "a1000005")
    assert list(scope.not_walked) == ["a1000001", "a1000002"]
    assert "unchanged since main" in scope.not_walked["a1000001"]
    assert scope.note == (
        "2 revision(s) changed since main (a1000003, a1000005) and 1 depending on them"
    )
    text = str(report)
    assert "walked 3 revision(s): a1000003, a1000004, a1000005" in text
    assert "not walked, 2 revision(s)" in text
    data = report.to_dict()
    assert data["scope"]["walked"] == ["a1000003", "a1000004", "a1000005"]
    assert set(data["revision_seconds"]) == {"a1000003", "a1000004", "a1000005"}


def test_committed_changes_count_from_where_the_branch_left_the_ref(tmp_path: Path) -> None:
    repo = project(tmp_path)
    run_git(repo, "checkout", "-q", "-b", "feature")
    (repo / "versions" / "a5_notes.py").write_text(NEW_REVISION)
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", "a5")
    # main moves on after the branch left it: its own change is not the branch's
    run_git(repo, "checkout", "-q", "main")
    a1 = repo / "versions" / "a1_create_customers.py"
    a1.write_text(a1.read_text() + "\n# main moved on\n")
    run_git(repo, "commit", "-q", "-am", "main moves")
    run_git(repo, "checkout", "-q", "feature")
    events: list[object] = []
    with Gauntlet(None, config(repo, changed_since="main"), progress=events.append) as g:
        report = g.run_all(["stairway"], raise_on_failure=False)
    assert report.get("stairway").status == "passed"
    assert walked_by(events, "stairway") == ["a1000005"]


@pytest.mark.parametrize("changed", ["env/env.py", "env/script.py.mako", "alembic.ini"])
def test_a_change_to_the_environment_walks_everything(tmp_path: Path, changed: str) -> None:
    repo = project(tmp_path)
    path = repo / changed
    path.write_text(path.read_text() + "\n# changed\n")
    events: list[object] = []
    with Gauntlet(None, config(repo, changed_since="main"), progress=events.append) as g:
        assert g.scope is not None
        assert g.scope.walked == tuple(g.revisions())
        assert g.scope.note.startswith("full run: ")
        report = g.run_all(["stairway"], raise_on_failure=False)
    assert report.get("stairway").status == "passed"
    assert walked_by(events, "stairway") == ["a1000001", "a1000002", "a1000003", "a1000004"]
    assert walked_by(events, "start state") == []


def test_a_change_to_the_first_revision_walks_everything(tmp_path: Path) -> None:
    repo = project(tmp_path)
    a1 = repo / "versions" / "a1_create_customers.py"
    a1.write_text(a1.read_text() + "\n# changed\n")
    with Gauntlet(None, config(repo, changed_since="main")) as g:
        assert g.scope is not None
        assert g.scope.walked == tuple(g.revisions())
        assert "every revision depends on one changed since main (a1000001)" in g.scope.note


def test_nothing_changed_walks_nothing_and_says_so(tmp_path: Path) -> None:
    repo = project(tmp_path)
    with Gauntlet(None, config(repo, changed_since="main")) as g:
        report = g.run_all(["single_head", "stairway", "no_trace"], raise_on_failure=False)
    assert report.get("single_head").status == "passed"
    for name in ("stairway", "no_trace"):
        result = report.get(name)
        assert result.status == "skipped"
        assert "no revision changed since main" in result.reason


def test_outside_a_git_checkout_is_a_config_error(tmp_path: Path) -> None:
    repo = project(tmp_path, git=False)
    with pytest.raises(ChangedSinceError, match="not in a git checkout"):
        Gauntlet(None, config(repo, changed_since="main"))
    code = main(["-q", "-c", str(repo / "alembic.ini"), "--changed-since", "main"])
    assert code == 2


def test_an_unknown_ref_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project(tmp_path)
    with pytest.raises(ChangedSinceError, match="git knows no commit 'origin/nope'"):
        Gauntlet(None, config(repo, changed_since="origin/nope"))
    code = main(["-q", "-c", str(repo / "alembic.ini"), "--changed-since", "origin/nope"])
    assert code == 2
    assert "fetch" in capsys.readouterr().err


def test_the_cli_walks_only_the_changed_part(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = project(tmp_path)
    change_a3_and_add_a5(repo)
    args = ["-q", "-c", str(repo / "alembic.ini"), "--changed-since", "main", "--json"]
    code = main([*args, "--only", "stairway,no_trace"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert '"walked": [\n      "a1000003"' in out


def test_shards_cut_only_the_changed_part(tmp_path: Path) -> None:
    repo = project(tmp_path)
    change_a3_and_add_a5(repo)
    parts = []
    for index in (1, 2):
        with Gauntlet(None, config(repo, changed_since="main", shard=(index, 2))) as g:
            assert g.scope is not None
            parts.append(g.scope)
    assert parts[0].walked + parts[1].walked == ("a1000003", "a1000004", "a1000005")
    assert all(part.walked for part in parts)
    second = parts[1]
    assert second.note.startswith("shard 2 of 2; 2 revision(s) changed since main")
    assert "unchanged since main" in second.not_walked["a1000001"]
    assert second.not_walked[parts[0].walked[0]] == "walked by shard 1 of 2"

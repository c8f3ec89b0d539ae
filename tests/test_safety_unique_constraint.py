"""safety on a UNIQUE constraint added to a pre-existing table (cloudkitty's storage_state
c50ed2c19204, `batch_op.create_unique_constraint`): ADD CONSTRAINT builds the constraint's
index in the transaction under ACCESS EXCLUSIVE, an index-without-concurrently finding whose
advice must name the way for a constraint (postgresql_concurrently is no option of
create_unique_constraint): the index built concurrently, then ADD CONSTRAINT ... USING INDEX."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gauntlet_sync import Gauntlet, GauntletConfig, MigrationSafetyError
from tests.histories import catalog

pytestmark = pytest.mark.usefixtures("no_leftovers")

UNIQUE = '''"""a unique constraint on the pre-existing orders

Revision ID: s1000002
Revises: s1000001
"""

from alembic import op

revision = "s1000002"
down_revision = "s1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_unique_constraint("uq_orders_code", "orders", ["code"])


def downgrade() -> None:
    op.drop_constraint("uq_orders_code", "orders", type_="unique")
'''


def _history(tmp_path: Path) -> str:
    source = catalog.HISTORIES / "safety_unsafe"
    (tmp_path / "versions").mkdir()
    shutil.copy(source / "versions" / "s1_create_tables.py", tmp_path / "versions")
    (tmp_path / "versions" / "s2_unique.py").write_text(UNIQUE)
    envs = (catalog.HISTORIES / "_envs").as_posix()
    ini = (source / "alembic.ini").read_text().replace("%(here)s/../_envs", envs)
    (tmp_path / "alembic.ini").write_text(ini)
    return str(tmp_path / "alembic.ini")


def test_a_unique_constraint_on_a_pre_existing_table_gets_the_constraints_advice(
    tmp_path: Path,
) -> None:
    with (
        Gauntlet(None, GauntletConfig(alembic_ini=_history(tmp_path))) as g,
        pytest.raises(MigrationSafetyError) as caught,
    ):
        g.check_safety()
    assert caught.value.problems == (
        "index-without-concurrently: revision s1000002 builds index uq_orders_code in its "
        "transaction on orders under ACCESS EXCLUSIVE (blocks reads and writes); create it "
        "with postgresql_concurrently=True inside op.get_context().autocommit_block(); for a "
        "UNIQUE / PRIMARY KEY constraint, build its unique index that way, then ADD "
        "CONSTRAINT ... UNIQUE / PRIMARY KEY USING INDEX",
    )

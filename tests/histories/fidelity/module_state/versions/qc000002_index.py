"""an index, through a module-level list the upgrade appends to (gnocchi 34c517bcc2dd's shape)

Each ``alembic`` command imports this file anew, so ``to_create`` holds one name whenever
the upgrade runs: up, down, up pass as separate commands. Run twice in one import, the
second run would create the index twice.

Revision ID: qc000002
Revises: qc000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "qc000002"
down_revision = "qc000001"
branch_labels = None
depends_on = None

to_create: list[str] = []


def upgrade() -> None:
    to_create.append("ix_items_a")
    for name in to_create:
        op.create_index(name, "items", ["a"])


def downgrade() -> None:
    op.drop_index("ix_items_a", table_name="items")

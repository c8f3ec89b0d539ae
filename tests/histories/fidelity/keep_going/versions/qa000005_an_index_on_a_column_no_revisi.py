"""an index on a column no revision adds (broken: the upgrade fails)

Revision ID: qa000005
Revises: qa000004
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "qa000005"
down_revision = "qa000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_reference", "orders", ["reference"])


def downgrade() -> None:
    op.drop_index("ix_orders_reference", table_name="orders")

"""index on orders.status, built inside the transaction

Revision ID: s1000004
Revises: s1000003
"""

from alembic import op

revision = "s1000004"
down_revision = "s1000003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_orders_status", "orders", ["status"])


def downgrade() -> None:
    op.drop_index("ix_orders_status", table_name="orders")

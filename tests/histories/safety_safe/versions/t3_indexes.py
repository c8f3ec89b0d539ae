"""index on orders.status CONCURRENTLY; a new table items with its index and FK

Revision ID: t1000003
Revises: t1000002
"""

import sqlalchemy as sa
from alembic import op

revision = "t1000003"
down_revision = "t1000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.create_index("ix_orders_status", "orders", ["status"], postgresql_concurrently=True)
    op.create_table(
        "items",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("order_id", sa.Integer, sa.ForeignKey("orders.id"), nullable=False),
    )
    op.create_index("ix_items_order_id", "items", ["order_id"])


def downgrade() -> None:
    op.drop_table("items")
    with op.get_context().autocommit_block():
        op.drop_index("ix_orders_status", table_name="orders", postgresql_concurrently=True)

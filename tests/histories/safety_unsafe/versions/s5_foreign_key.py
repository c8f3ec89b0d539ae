"""orders.customer_id -> customers.id, validated at once

Revision ID: s1000005
Revises: s1000004
"""

from alembic import op

revision = "s1000005"
down_revision = "s1000004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_foreign_key("fk_orders_customer", "orders", "customers", ["customer_id"], ["id"])


def downgrade() -> None:
    op.drop_constraint("fk_orders_customer", "orders", type_="foreignkey")

"""orders.product_id (FK to products, indexed)

Revision ID: k1000005
Revises: k1000004
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "k1000005"
down_revision = "k1000004"
branch_labels = None
depends_on = None

# This history tests another check: its unsafe operation is allowed for safety.
# gauntlet: allow index-without-concurrently, constraint-validation


def upgrade() -> None:
    op.add_column("orders", sa.Column("product_id", sa.Integer(), nullable=True))
    op.create_index(op.f("ix_orders_product_id"), "orders", ["product_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_orders_product_id_products"), "orders", "products", ["product_id"], ["id"]
    )


def downgrade() -> None:
    op.drop_constraint(op.f("fk_orders_product_id_products"), "orders", type_="foreignkey")
    op.drop_index(op.f("ix_orders_product_id"), table_name="orders")
    op.drop_column("orders", "product_id")

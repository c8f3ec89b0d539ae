"""create orders (PK and FK names that are not the models')

Revision ID: v1000002
Revises: v1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "v1000002"
down_revision = "v1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        # DRIFT: the models name these pk_orders and fk_orders_customer_id_customers.
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="fk_orders_customer"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_orders_customer_id"), "orders", ["customer_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_orders_customer_id"), table_name="orders")
    op.drop_table("orders")

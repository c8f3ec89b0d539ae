"""create orders (index and FK with names outside the convention)

Revision ID: i1000002
Revises: i1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "i1000002"
down_revision = "i1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"], name="orders_customer"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )
    op.create_index("orders_code_index", "orders", ["code"], unique=False)


def downgrade() -> None:
    op.drop_index("orders_code_index", table_name="orders")
    op.drop_table("orders")

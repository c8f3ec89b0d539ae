"""create orders (names chosen by hand, no convention)

Revision ID: y1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "y1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("total", sa.Numeric(precision=10, scale=2), nullable=False),
        sa.CheckConstraint("total >= 0", name="chk_orders_total"),
        sa.PrimaryKeyConstraint("id", name="orders_pk"),
    )
    op.create_index("orders_state", "orders", ["state"], unique=False)
    op.create_index("gin_orders_code", "orders", ["code"], unique=False)
    op.create_index("uq_orders_code_lower", "orders", [sa.text("lower(code)")], unique=True)


def downgrade() -> None:
    op.drop_index("uq_orders_code_lower", table_name="orders")
    op.drop_index("gin_orders_code", table_name="orders")
    op.drop_index("orders_state", table_name="orders")
    op.drop_table("orders")

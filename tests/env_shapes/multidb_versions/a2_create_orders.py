"""(multidb form, engine1) create orders

Revision ID: a1000002
Revises: a1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision = "a1000002"
down_revision = "a1000001"
branch_labels = None
depends_on = None


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_engine1() -> None:
    op.execute("CREATE TYPE order_status AS ENUM ('new', 'paid', 'shipped')")
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            postgresql.ENUM("new", "paid", "shipped", name="order_status", create_type=False),
            server_default="new",
            nullable=False,
        ),
        sa.Column("total", sa.Numeric(precision=10, scale=2), server_default="0", nullable=False),
        sa.CheckConstraint("total >= 0", name=op.f("ck_orders_total_nonnegative")),
        sa.ForeignKeyConstraint(
            ["customer_id"], ["customers.id"], name=op.f("fk_orders_customer_id_customers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_orders")),
    )


def downgrade_engine1() -> None:
    op.drop_table("orders")
    # Dropping the table leaves the enum type behind: drop it too.
    op.execute("DROP TYPE order_status")

"""orders.customer_id FK and CHECK (status IS NOT NULL), both NOT VALID

Revision ID: t1000004
Revises: t1000003
"""

from alembic import op

revision = "t1000004"
down_revision = "t1000003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "ALTER TABLE orders ADD CONSTRAINT fk_orders_customer FOREIGN KEY (customer_id) "
        "REFERENCES customers (id) NOT VALID"
    )
    op.execute(
        "ALTER TABLE orders ADD CONSTRAINT ck_orders_status_nn CHECK (status IS NOT NULL) NOT VALID"
    )


def downgrade() -> None:
    op.drop_constraint("ck_orders_status_nn", "orders", type_="check")
    op.drop_constraint("fk_orders_customer", "orders", type_="foreignkey")

"""orders with an audit trigger and a view

Revision ID: ja000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ja000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("total", sa.Numeric(10, 2)),
        sa.Column("updated_at", sa.DateTime()),
    )
    op.execute(
        """
        CREATE FUNCTION touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN NEW.updated_at := now(); RETURN NEW; END $$
        """
    )
    op.execute(
        "CREATE TRIGGER orders_touch BEFORE UPDATE ON orders "
        "FOR EACH ROW EXECUTE FUNCTION touch_updated_at()"
    )
    op.execute("CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100")


def downgrade() -> None:
    op.execute("DROP VIEW big_orders")
    op.execute("DROP TRIGGER orders_touch ON orders")
    op.execute("DROP FUNCTION touch_updated_at()")
    op.drop_table("orders")

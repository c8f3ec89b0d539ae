"""replace the view and the function

Revision ID: ja000002
Revises: ja000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "ja000002"
down_revision = "ja000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "CREATE OR REPLACE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 500"
    )
    op.execute("CREATE MATERIALIZED VIEW order_count AS SELECT count(*) AS n FROM orders")


def downgrade() -> None:
    op.execute("DROP MATERIALIZED VIEW order_count")
    op.execute(
        "CREATE OR REPLACE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 100"
    )

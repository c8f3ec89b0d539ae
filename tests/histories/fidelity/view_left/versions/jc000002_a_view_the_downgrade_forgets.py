"""a view the downgrade forgets

Revision ID: jc000002
Revises: jc000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "jc000002"
down_revision = "jc000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE VIEW all_orders AS SELECT id FROM orders")


def downgrade() -> None:
    pass

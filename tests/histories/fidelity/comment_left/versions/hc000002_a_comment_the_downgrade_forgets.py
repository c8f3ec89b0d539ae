"""a comment the downgrade forgets

Revision ID: hc000002
Revises: hc000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "hc000002"
down_revision = "hc000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table_comment("products", "things we sell")


def downgrade() -> None:
    pass

"""mail -> email (the downgrade forgets it)

Revision ID: kb000002
Revises: kb000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "kb000002"
down_revision = "kb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("clients", "mail", new_column_name="email")


def downgrade() -> None:
    pass

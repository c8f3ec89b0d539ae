"""an index the downgrade forgets

Revision ID: gb000002
Revises: gb000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "gb000002"
down_revision = "gb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_name", "users", ["name"], if_not_exists=True)


def downgrade() -> None:
    pass

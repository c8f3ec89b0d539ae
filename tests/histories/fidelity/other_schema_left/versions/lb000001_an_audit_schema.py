"""an audit schema

Revision ID: lb000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "lb000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS audit")


def downgrade() -> None:
    op.execute("DROP SCHEMA audit CASCADE")

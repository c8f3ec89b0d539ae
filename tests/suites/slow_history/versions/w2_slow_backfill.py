"""a slow data migration (sleeps for a minute)

Revision ID: w1000002
Revises: w1000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "w1000002"
down_revision = "w1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("SELECT pg_sleep(60)")


def downgrade() -> None:
    pass

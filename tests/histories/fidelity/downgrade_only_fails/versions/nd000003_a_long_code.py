"""a long code (kept on downgrade)

Revision ID: nd000003
Revises: nd000002
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "nd000003"
down_revision = "nd000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("INSERT INTO codes VALUES (1, 'a-code-longer-than-ten')")


def downgrade() -> None:
    pass

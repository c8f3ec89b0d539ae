"""mood gets 'meh' inside the transaction (a warning by default)

Revision ID: s1000007
Revises: s1000006
"""

from alembic import op

revision = "s1000007"
down_revision = "s1000006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TYPE mood ADD VALUE IF NOT EXISTS 'meh'")


def downgrade() -> None:
    pass  # PostgreSQL cannot drop an enum label; re-upgrading is harmless (IF NOT EXISTS)

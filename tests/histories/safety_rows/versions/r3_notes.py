"""a data migration over notes, and a downgrade that makes accounts.email NOT NULL again

Revision ID: r1000003
Revises: r1000002
"""

import sqlalchemy as sa
from alembic import op

revision = "r1000003"
down_revision = "r1000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("UPDATE notes SET body = upper(body)")
    op.alter_column("accounts", "email", nullable=True, existing_type=sa.Text)


def downgrade() -> None:
    op.alter_column("accounts", "email", nullable=False, existing_type=sa.Text)

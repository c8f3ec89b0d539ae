"""accounts.region NOT NULL with no default: fine on the walk's empty table, fails on rows

Revision ID: r1000002
Revises: r1000001
"""

import sqlalchemy as sa
from alembic import op

revision = "r1000002"
down_revision = "r1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("region", sa.Text, nullable=False))
    op.add_column("blocked", sa.Column("note", sa.Text, nullable=True))


def downgrade() -> None:
    op.drop_column("blocked", "note")
    op.drop_column("accounts", "region")

"""users.name: a revision after it, so that a snapshot follows h0000002's re-upgrade

Revision ID: h0000003
"""

import sqlalchemy as sa
from alembic import op

revision = "h0000003"
down_revision = "h0000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("name", sa.Text))


def downgrade() -> None:
    op.drop_column("users", "name")

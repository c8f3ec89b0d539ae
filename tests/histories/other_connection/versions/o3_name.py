"""users.name: a revision after it, so that a snapshot follows o1000002's re-upgrade

Revision ID: o1000003
"""

import sqlalchemy as sa
from alembic import op

revision = "o1000003"
down_revision = "o1000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("name", sa.Text))


def downgrade() -> None:
    op.drop_column("users", "name")

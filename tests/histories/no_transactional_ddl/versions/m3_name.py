"""users.name: a revision after it, so that a snapshot follows m1000002's re-upgrade

Revision ID: m1000003
"""

import sqlalchemy as sa
from alembic import op

revision = "m1000003"
down_revision = "m1000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("name", sa.Text))


def downgrade() -> None:
    op.drop_column("users", "name")

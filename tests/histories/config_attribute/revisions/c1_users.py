"""users

Revision ID: c0000001
"""

import sqlalchemy as sa
from alembic import op

revision = "c0000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("users")

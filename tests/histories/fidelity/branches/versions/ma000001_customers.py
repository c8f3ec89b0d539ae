"""customers

Revision ID: ma000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ma000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("customers", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("customers")

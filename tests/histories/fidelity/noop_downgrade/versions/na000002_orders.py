"""orders (the downgrade does nothing)

Revision ID: na000002
Revises: na000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "na000002"
down_revision = "na000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("orders", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    pass

"""branch one

Revision ID: mb000002
Revises: mb000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "mb000002"
down_revision = "mb000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("b", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("b")

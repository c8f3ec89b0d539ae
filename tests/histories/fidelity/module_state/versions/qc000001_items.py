"""items

Revision ID: qc000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "qc000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "items", sa.Column("id", sa.Integer(), primary_key=True), sa.Column("a", sa.Integer())
    )


def downgrade() -> None:
    op.drop_table("items")

"""parent and child, dropped parent first

Revision ID: nc000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "nc000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("parent", sa.Column("id", sa.Integer(), primary_key=True))
    op.create_table(
        "child",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("parent_id", sa.Integer(), sa.ForeignKey("parent.id")),
    )


def downgrade() -> None:
    op.drop_table("parent")
    op.drop_table("child")

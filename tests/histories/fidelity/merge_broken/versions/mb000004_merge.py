"""merge (its downgrade drops c)

Revision ID: mb000004
Revises: mb000002, mb000003
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "mb000004"
down_revision = ("mb000002", "mb000003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    op.drop_table("c")

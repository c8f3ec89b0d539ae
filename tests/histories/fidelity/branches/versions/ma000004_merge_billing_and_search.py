"""merge billing and search

Revision ID: ma000004
Revises: ma000002, ma000003
Create Date: 2024-01-01 00:00:00

"""

revision = "ma000004"
down_revision = ("ma000002", "ma000003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

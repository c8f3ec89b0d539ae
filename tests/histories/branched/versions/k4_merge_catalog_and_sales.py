"""merge the catalog and sales branches

Revision ID: k1000004
Revises: k1000002, k1000003
Create Date: 2024-01-01 00:00:00

"""

# revision identifiers, used by Alembic.
revision = "k1000004"
down_revision = ("k1000002", "k1000003")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass

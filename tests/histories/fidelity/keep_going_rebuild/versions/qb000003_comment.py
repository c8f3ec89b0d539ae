"""a table comment the downgrade leaves (a trace only: the re-upgrade passes)

Revision ID: qb000003
Revises: qb000002
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "qb000003"
down_revision = "qb000002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table_comment("studies", "optimisation studies")


def downgrade() -> None:
    pass

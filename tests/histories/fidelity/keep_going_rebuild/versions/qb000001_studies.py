"""studies, with an enum type its downgrade drops

Revision ID: qb000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "qb000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "studies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("direction", sa.Enum("minimize", "maximize", name="direction"), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("studies")
    op.execute("DROP TYPE direction")

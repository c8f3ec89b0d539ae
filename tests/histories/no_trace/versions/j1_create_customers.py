"""create customers

Revision ID: j1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "j1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=False),
        sa.Column("country", sa.String(length=2), server_default="US", nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
    )


def downgrade() -> None:
    op.drop_table("customers")

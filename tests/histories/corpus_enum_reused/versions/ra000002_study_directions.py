"""study_directions, naming the same enum again (BROKEN: CREATE TYPE a second time)

Revision ID: ra000002
Revises: ra000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ra000002"
down_revision = "ra000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Should be postgresql.ENUM(..., create_type=False): the type exists since ra000001.
    op.create_table(
        "study_directions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("MINIMIZE", "MAXIMIZE", name="studydirection"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("study_directions")

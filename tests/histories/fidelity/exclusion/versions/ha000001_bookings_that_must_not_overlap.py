"""bookings that must not overlap (exclusion constraint)

Revision ID: ha000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "ha000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bookings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("during", postgresql.TSRANGE(), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("during"), "&&"), using="gist", name="bookings_no_overlap"
        ),
    )


def downgrade() -> None:
    op.drop_table("bookings")

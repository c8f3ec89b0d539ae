"""tickets with a native enum

Revision ID: ed000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ed000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", sa.Enum("open", "closed", name="ticket_state")),
    )


def downgrade() -> None:
    op.drop_table("tickets")
    op.execute("DROP TYPE ticket_state")

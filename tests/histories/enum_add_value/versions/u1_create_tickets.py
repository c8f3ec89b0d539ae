"""create tickets with a native enum

Revision ID: u1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "u1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE TYPE ticket_state AS ENUM ('open', 'closed')")
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column(
            "state",
            postgresql.ENUM("open", "closed", name="ticket_state", create_type=False),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
    )


def downgrade() -> None:
    op.drop_table("tickets")
    op.execute("DROP TYPE ticket_state")

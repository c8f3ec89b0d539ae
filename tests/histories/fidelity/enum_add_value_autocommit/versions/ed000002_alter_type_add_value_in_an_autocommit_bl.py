"""ALTER TYPE ADD VALUE in an autocommit block

Revision ID: ed000002
Revises: ed000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "ed000002"
down_revision = "ed000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("ALTER TYPE ticket_state ADD VALUE IF NOT EXISTS 'archived'")


def downgrade() -> None:
    op.execute("UPDATE tickets SET state = NULL WHERE state = 'archived'")
    op.execute("ALTER TYPE ticket_state RENAME TO ticket_state_old")
    op.execute("CREATE TYPE ticket_state AS ENUM ('open', 'closed')")
    op.execute(
        "ALTER TABLE tickets ALTER COLUMN state TYPE ticket_state USING state::text::ticket_state"
    )
    op.execute("DROP TYPE ticket_state_old")

"""add the 'archived' ticket state

The downgrade mentions 'archived', which PostgreSQL only allows once the transaction
that added the value has committed: a stairway that ran the upgrade and the downgrade in
one transaction would fail here although `alembic upgrade` then `alembic downgrade -1`
works.

Revision ID: u1000002
Revises: u1000001
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

revision = "u1000002"
down_revision = "u1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TYPE ticket_state ADD VALUE 'archived'")


def downgrade() -> None:
    op.execute("UPDATE tickets SET state = NULL WHERE state = 'archived'")
    op.execute("ALTER TYPE ticket_state RENAME TO ticket_state_old")
    op.execute("CREATE TYPE ticket_state AS ENUM ('open', 'closed')")
    op.execute(
        "ALTER TABLE tickets ALTER COLUMN state TYPE ticket_state USING state::text::ticket_state"
    )
    op.execute("DROP TYPE ticket_state_old")

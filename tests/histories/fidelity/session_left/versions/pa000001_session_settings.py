"""a table, and session state a separate alembic command would not keep

The upgrade leaves a temporary table and makes the session's transactions read-only.
Separate alembic commands each connect anew, so neither reaches the next command; in a
walk they must not reach the next step either (the re-upgrade would meet the temporary
table, the downgrade a read-only transaction).

Revision ID: pa000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "pa000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))
    op.execute("CREATE TEMP TABLE import_buffer (id integer)")
    op.execute("SET default_transaction_read_only = on")


def downgrade() -> None:
    op.drop_table("notes")

"""a table, and alembic's version table readable by a role that owns nothing

Revision ID: ps000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ps000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))
    # the version row is updated under the session user ps000002's downgrade sets
    op.execute("GRANT SELECT ON alembic_version TO pg_write_all_data")


def downgrade() -> None:
    op.drop_table("notes")

"""a table, and a role a separate alembic command would not keep

The upgrade ends with ``SET ROLE`` (a role that may write rows but owns nothing).
Separate alembic commands each connect anew as the user that logged in, so the
downgrade can drop the table; a walk that kept the role would find the step's
``DROP TABLE`` refused ("must be owner of table notes").

Revision ID: pr000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "pr000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("notes", sa.Column("id", sa.Integer(), primary_key=True))
    # alembic's version row is written (INSERT ... RETURNING) under the role
    op.execute("GRANT SELECT ON alembic_version TO pg_write_all_data")
    op.execute("SET ROLE pg_write_all_data")


def downgrade() -> None:
    op.drop_table("notes")

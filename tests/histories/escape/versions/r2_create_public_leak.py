"""create leak (BROKEN: schema-qualified, escapes the isolated schema)

Revision ID: r1000002
Revises: r1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "r1000002"
down_revision = "r1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "leak",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leak")),
        schema="public",  # the bug: hard-coded schema
    )


def downgrade() -> None:
    op.drop_table("leak", schema="public")

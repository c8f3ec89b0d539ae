"""pgcrypto and a table using it

Revision ID: oa000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "oa000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pgcrypto")
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("digest", sa.LargeBinary(), server_default=sa.text("digest('x', 'sha256')")),
    )


def downgrade() -> None:
    op.drop_table("tokens")
    op.execute("DROP EXTENSION IF EXISTS pgcrypto")

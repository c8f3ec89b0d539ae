"""code becomes text (the downgrade casts back)

Revision ID: nd000002
Revises: nd000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "nd000002"
down_revision = "nd000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.alter_column("codes", "code", type_=sa.Text(), existing_type=sa.String(10))


def downgrade() -> None:
    op.alter_column(
        "codes",
        "code",
        type_=sa.String(10),
        existing_type=sa.Text(),
        postgresql_using="code::varchar(10)",
    )

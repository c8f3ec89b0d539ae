"""merge customers.first_name and last_name into full_name (irreversible)

Revision ID: q1000002
Revises: q1000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "q1000002"
down_revision = "q1000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("customers", sa.Column("full_name", sa.String(length=101), nullable=True))
    op.execute("UPDATE customers SET full_name = first_name || ' ' || last_name")
    op.alter_column("customers", "full_name", existing_type=sa.String(length=101), nullable=False)
    op.drop_column("customers", "last_name")
    op.drop_column("customers", "first_name")


def downgrade() -> None:
    raise NotImplementedError(
        "irreversible: customers.first_name and last_name were merged into full_name"
    )

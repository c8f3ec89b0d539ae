"""data migration: the walk-in customer (id 0, so the id sequence is not touched)

Revision ID: a1000004
Revises: a1000003
Create Date: 2024-01-01 00:00:00

"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "a1000004"
down_revision = "a1000003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        "INSERT INTO customers (id, email, name) "
        "VALUES (0, 'walk-in@example.com', 'Walk-in customer')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM customers WHERE id = 0")

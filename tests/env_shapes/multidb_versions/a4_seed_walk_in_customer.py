"""(multidb form, engine1) data migration: the walk-in customer

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


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_engine1() -> None:
    op.execute(
        "INSERT INTO customers (id, email, name) "
        "VALUES (0, 'walk-in@example.com', 'Walk-in customer')"
    )


def downgrade_engine1() -> None:
    op.execute("DELETE FROM customers WHERE id = 0")

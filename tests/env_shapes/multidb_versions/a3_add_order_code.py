"""(multidb form, engine1) add orders.code with an index

Revision ID: a1000003
Revises: a1000002
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "a1000003"
down_revision = "a1000002"
branch_labels = None
depends_on = None

# This history tests another check: its unsafe operation is allowed for safety.
# gauntlet: allow index-without-concurrently


def upgrade(engine_name: str) -> None:
    globals()[f"upgrade_{engine_name}"]()


def downgrade(engine_name: str) -> None:
    globals()[f"downgrade_{engine_name}"]()


def upgrade_engine1() -> None:
    op.add_column("orders", sa.Column("code", sa.String(length=32), nullable=True))
    op.create_index(op.f("ix_orders_code"), "orders", ["code"], unique=False)


def downgrade_engine1() -> None:
    op.drop_index(op.f("ix_orders_code"), table_name="orders")
    op.drop_column("orders", "code")

"""batch_alter_table and a data migration

Revision ID: ia000002
Revises: ia000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ia000002"
down_revision = "ia000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.add_column(sa.Column("price", sa.Numeric(8, 2), nullable=True))
        batch.alter_column("name", type_=sa.String(40), existing_type=sa.String(20))
        batch.create_index("ix_plans_name", ["name"])
    bind = op.get_bind()
    bind.execute(sa.text("UPDATE plans SET price = CASE name WHEN 'pro' THEN 9.5 ELSE 0 END"))
    op.alter_column("plans", "price", nullable=False, existing_type=sa.Numeric(8, 2))


def downgrade() -> None:
    with op.batch_alter_table("plans") as batch:
        batch.drop_index("ix_plans_name")
        batch.alter_column("name", type_=sa.String(20), existing_type=sa.String(40))
        batch.drop_column("price")

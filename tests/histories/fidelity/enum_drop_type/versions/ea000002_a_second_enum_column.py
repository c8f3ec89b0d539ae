"""a second enum column, created and dropped by hand

Revision ID: ea000002
Revises: ea000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "ea000002"
down_revision = "ea000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    plan = postgresql.ENUM("free", "pro", name="plan")
    plan.create(op.get_bind())
    op.add_column("accounts", sa.Column("plan", plan, nullable=True))


def downgrade() -> None:
    op.drop_column("accounts", "plan")
    postgresql.ENUM(name="plan").drop(op.get_bind())

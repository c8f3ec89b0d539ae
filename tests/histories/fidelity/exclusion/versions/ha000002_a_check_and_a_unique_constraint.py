"""a CHECK and a unique constraint

Revision ID: ha000002
Revises: ha000001
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "ha000002"
down_revision = "ha000001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bookings", sa.Column("code", sa.String(8)))
    op.create_unique_constraint("uq_bookings_code", "bookings", ["code"])
    op.create_check_constraint("ck_bookings_code_len", "bookings", "length(code) = 8")


def downgrade() -> None:
    op.drop_constraint("ck_bookings_code_len", "bookings", type_="check")
    op.drop_constraint("uq_bookings_code", "bookings", type_="unique")
    op.drop_column("bookings", "code")

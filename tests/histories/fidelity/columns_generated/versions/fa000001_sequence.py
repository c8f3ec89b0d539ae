"""sequence, identity, computed and server defaults

Revision ID: fa000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "fa000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sa.schema.CreateSequence(sa.Sequence("invoice_no_seq", start=1000)))
    op.create_table(
        "invoices",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=True), primary_key=True),
        sa.Column("number", sa.BigInteger(), server_default=sa.text("nextval('invoice_no_seq')")),
        sa.Column("net", sa.Numeric(10, 2), nullable=False, server_default="0"),
        sa.Column("gross", sa.Numeric(12, 2), sa.Computed("net * 1.2", persisted=True)),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("status", sa.String(10), server_default="new"),
    )


def downgrade() -> None:
    op.drop_table("invoices")
    op.execute(sa.schema.DropSequence(sa.Sequence("invoice_no_seq")))

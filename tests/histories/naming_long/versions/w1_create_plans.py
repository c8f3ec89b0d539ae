"""create subscription_plans and subscription_plan_entitlements (names over 63 characters)

Revision ID: w1000001
Revises:
Create Date: 2024-01-01 00:00:00

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "w1000001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "subscription_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plans")),
    )
    op.create_table(
        "subscription_plan_entitlements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_plan_reference_identifier", sa.Integer(), nullable=False),
        sa.Column("entitlement_feature_identifier_code", sa.String(length=64), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "quantity >= 0",
            name=op.f("ck_subscription_plan_entitlements_quantity_must_be_positive_when_metered"),
        ),
        sa.ForeignKeyConstraint(
            ["subscription_plan_reference_identifier"],
            ["subscription_plans.id"],
            name=op.f(
                "fk_subscription_plan_entitlements_subscription_plan_reference_identifier_"
                "subscription_plans"
            ),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_plan_entitlements")),
        sa.UniqueConstraint(
            "entitlement_feature_identifier_code",
            name=op.f("uq_subscription_plan_entitlements_entitlement_feature_identifier_code"),
        ),
    )
    op.create_index(
        op.f("ix_subscription_plan_entitlements_subscription_plan_reference_identifier"),
        "subscription_plan_entitlements",
        ["subscription_plan_reference_identifier"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(
        op.f("ix_subscription_plan_entitlements_subscription_plan_reference_identifier"),
        table_name="subscription_plan_entitlements",
    )
    op.drop_table("subscription_plan_entitlements")
    op.drop_table("subscription_plans")

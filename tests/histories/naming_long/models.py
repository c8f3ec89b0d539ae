"""Models for the `naming_long` history (the head of its revisions).

The convention renders names longer than PostgreSQL's 63 characters for the CHECK, FK,
unique constraint and index of subscription_plan_entitlements. SQLAlchemy cuts them when
it emits the DDL (``..._`` and 4 hex digits of the md5 of the full name); the migration
holds the full names in ``op.f()``, as autogenerate writes them. Every check passes: the
checks compare the cut names.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, ForeignKey, Integer, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class SubscriptionPlan(Base):
    __tablename__ = "subscription_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class SubscriptionPlanEntitlement(Base):
    __tablename__ = "subscription_plan_entitlements"
    __table_args__ = (
        UniqueConstraint("entitlement_feature_identifier_code"),
        CheckConstraint("quantity >= 0", name="quantity_must_be_positive_when_metered"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    subscription_plan_reference_identifier: Mapped[int] = mapped_column(
        ForeignKey("subscription_plans.id"), index=True
    )
    entitlement_feature_identifier_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)

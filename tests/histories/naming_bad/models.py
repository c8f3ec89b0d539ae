"""Models for the `naming_bad` history (the head of its revisions).

The index orders_code_index and the FK orders_customer break the naming convention, but the
models name them so themselves (same explicit names as the migration): the naming check
passes with two warnings, and fails only in its rules mode (naming_rules given).
"""

from __future__ import annotations

from sqlalchemy import ForeignKey, Index, Integer, MetaData, String
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


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))


class Order(Base):
    __tablename__ = "orders"
    # BAD NAMES: should be ix_orders_code and fk_orders_customer_id_customers.
    __table_args__ = (Index("orders_code_index", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", name="orders_customer"))
    code: Mapped[str] = mapped_column(String(32))

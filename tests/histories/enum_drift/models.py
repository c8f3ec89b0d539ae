"""Models for the `enum_drift` history (the head of its revisions).

Order_status has 'cancelled' here, but no revision adds it to the PostgreSQL type ('new',
'paid', 'shipped').
"""

from __future__ import annotations

from sqlalchemy import Enum, Integer, MetaData, String
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


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32))
    # DRIFT: 'cancelled' was added here but never with ALTER TYPE ... ADD VALUE.
    status: Mapped[str] = mapped_column(
        Enum("new", "paid", "shipped", "cancelled", name="order_status"),
        server_default="new",
        index=True,
    )

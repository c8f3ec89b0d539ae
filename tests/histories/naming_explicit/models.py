"""Models for the `naming_explicit` history (the head of its revisions).

No naming convention; the models name things themselves, as real projects do, in shapes
no prefix/suffix rule expects: a primary key orders_pk, an index orders_state, a GIN-style
gin_orders_code, a unique index uq_orders_code_lower on an expression, and a CHECK named
chk_orders_total (alembic-gauntlet's default CHECK prefix). The database has them all
under the same names: every check passes, with no warning (there is no convention to break).
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import (
    CheckConstraint,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class Order(Base):
    __tablename__ = "orders"

    id: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(20))
    code: Mapped[str] = mapped_column(String(32))
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))

    __table_args__ = (
        PrimaryKeyConstraint("id", name="orders_pk"),
        CheckConstraint("total >= 0", name="chk_orders_total"),
        Index("orders_state", "state"),
        Index("gin_orders_code", "code"),
        Index("uq_orders_code_lower", func.lower(code), unique=True),
    )

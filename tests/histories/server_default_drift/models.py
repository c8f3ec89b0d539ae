"""Models for the `server_default_drift` history (tests/test_compat.py).

accounts.currency defaults to 'USD' here and to 'EUR' in the migration: autogenerate sees
it only with compare_server_default=True.
"""

from __future__ import annotations

from sqlalchemy import Integer, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {"pk": "pk_%(table_name)s"}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # DRIFT: the migration's server default is 'EUR'.
    currency: Mapped[str] = mapped_column(String(3), server_default="USD")

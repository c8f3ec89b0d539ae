"""Models for the `naming_hidden` history (the head of its revisions).

Its env.py hides two sets of tables from autogenerate, and so from every models check:
``include_name`` hides the database's ``legacy_*`` tables (legacy_log, not mapped, with
names no rule accepts); ``include_object`` hides ``archive_*`` tables on both sides
(archive_events is mapped, but its CHECK and index are named otherwise in the database).
Through a filterless env.py, models_match, check_constraints and naming all fail.
"""

from __future__ import annotations

from sqlalchemy import CheckConstraint, Integer, MetaData, String
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


class ArchiveEvent(Base):
    __tablename__ = "archive_events"
    __table_args__ = (CheckConstraint("kind <> ''", name="kind_not_empty"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20), index=True)

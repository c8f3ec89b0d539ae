"""Models for `corpus_enum_reused` (from optuna's v0.9.0.a / v2.4.0.a, see benchmarks/real).

Two tables share one native enum type. The first revision's create_table makes the type;
the second revision's create_table names the same type without create_type=False, so
SQLAlchemy emits CREATE TYPE again. `alembic upgrade heads` in ONE command passes (the
context's memo remembers the type it created); `alembic upgrade ra000001` followed by a
separate `alembic upgrade ra000002` fails with DuplicateObject, and so must the stairway's
upgrade step of ra000002.
"""

from __future__ import annotations

import enum

from sqlalchemy import Enum, Integer
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Direction(enum.Enum):
    MINIMIZE = "MINIMIZE"
    MAXIMIZE = "MAXIMIZE"


class Base(DeclarativeBase):
    pass


class Study(Base):
    __tablename__ = "studies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[Direction] = mapped_column(Enum(Direction, name="studydirection"))


class StudyDirection(Base):
    __tablename__ = "study_directions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    direction: Mapped[Direction] = mapped_column(Enum(Direction, name="studydirection"))

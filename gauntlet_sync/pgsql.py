"""Run ``psycopg.sql`` compositions on a SQLAlchemy connection.

Identifiers are always composed with ``sql.Identifier`` and executed on the underlying
psycopg connection, so no name is ever pasted into SQL text by hand.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy.engine import Connection


def driver_connection(conn: Connection) -> psycopg.Connection[Any]:
    raw = conn.connection.driver_connection
    assert isinstance(raw, psycopg.Connection), "gauntlet-sync needs the psycopg (3) driver"
    return raw


def execute(conn: Connection, statement: sql.Composed | sql.SQL) -> None:
    with driver_connection(conn).cursor() as cur:
        cur.execute(statement)

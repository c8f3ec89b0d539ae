"""A project-level database interface: one pooled engine per URL, created on first use
and reused for the life of the process (the application and its env.py share it)."""

from sqlalchemy import Engine, create_engine

_engines: dict[str, Engine] = {}


def engine_for(url: str) -> Engine:
    key = url.split("?")[0]  # one engine per server and database
    if key not in _engines:
        _engines[key] = create_engine(url, pool_size=2)
    return _engines[key]

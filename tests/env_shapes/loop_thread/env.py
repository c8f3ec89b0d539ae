"""env.py that hands its async migration to an event loop running in another thread (as
projects that run alembic from a worker thread do, e.g. through anyio's ``from_thread``):
the engine connects, and alembic runs, in that loop's thread."""

import asyncio
import threading

from alembic import context
from sqlalchemy import pool
from sqlalchemy.ext.asyncio import async_engine_from_config

config = context.config
target_metadata = None


def do_run_migrations(connection):
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def run_async_migrations():
    engine = async_engine_from_config(
        config.get_section(config.config_ini_section, {}),
        prefix="sqlalchemy.",
        poolclass=pool.NullPool,
    )
    async with engine.connect() as connection:
        await connection.run_sync(do_run_migrations)
    await engine.dispose()


loop = asyncio.new_event_loop()
thread = threading.Thread(target=loop.run_forever, daemon=True)
thread.start()
try:
    asyncio.run_coroutine_threadsafe(run_async_migrations(), loop).result()
finally:
    loop.call_soon_threadsafe(loop.stop)
    thread.join()
    loop.close()

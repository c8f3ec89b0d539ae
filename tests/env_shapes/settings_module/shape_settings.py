"""The project's settings, as many applications keep them: the database URL comes from
the environment, with a development default. Nothing here knows about alembic."""

import os


class Settings:
    def __init__(self) -> None:
        self.database_url = os.environ.get(
            "SHAPE_DATABASE_URL", "postgresql+psycopg://app:app@db.invalid:5432/app"
        )


settings = Settings()

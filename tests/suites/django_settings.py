"""The least Django needs to run ``tests/suites`` with its ``DiscoverRunner``."""

SECRET_KEY = "gauntlet-sync-test-suite"
INSTALLED_APPS: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
USE_TZ = True

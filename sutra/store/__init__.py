"""Persistence: SQLAlchemy models, engines and Alembic migrations.

SQLite (a ``sutra.db`` file in the working directory) unless
``SUTRA_DATABASE_URL`` names another database, e.g. PostgreSQL.
"""

from sutra.store.db import (
    DATABASE_URL_ENV,
    async_url,
    create_async_engine_for,
    create_engine_for,
    create_session_factory,
    database_url,
    migrate,
    safe_url,
    sync_url,
)

__all__ = [
    "DATABASE_URL_ENV",
    "async_url",
    "create_async_engine_for",
    "create_engine_for",
    "create_session_factory",
    "database_url",
    "migrate",
    "safe_url",
    "sync_url",
]

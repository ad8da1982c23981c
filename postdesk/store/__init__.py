"""Persistence: SQLAlchemy models, the engine for SQLite and PostgreSQL, repositories, the blob store and migrations."""

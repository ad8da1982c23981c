"""Persistence: SQLAlchemy models, engines for SQLite and PostgreSQL, migrations, blob store."""

"""Alembic migrations; run them with ``postdesk db upgrade`` (once, never implicitly at start)."""

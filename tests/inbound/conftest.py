"""Fixtures shared by the inbound tests."""

from tests.support.imap import dovecot, imap_store, imap_user  # noqa: F401 - fixtures

"""Fixtures for gateway tests: a real Dovecot for the IMAP path."""

from tests.support.imap import dovecot, imap_user  # noqa: F401 - fixtures

"""Fixtures for the reliability tests: a real Dovecot for the IMAP crash test."""

from tests.support.imap import dovecot, imap_user  # noqa: F401 - fixtures

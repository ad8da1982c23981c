"""Fixtures for the deployment tests: a real Dovecot for the shared IMAP mailbox."""

from tests.support.imap import dovecot, imap_user  # noqa: F401 - fixtures

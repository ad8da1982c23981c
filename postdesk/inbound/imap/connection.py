"""Opening an authenticated IMAP connection with socket timeouts on every read and write."""

from __future__ import annotations

import contextlib
import imaplib
import ssl
import subprocess
from collections.abc import Callable

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError
from imapclient.imapclient import SocketTimeout

from postdesk.inbound.imap.config import MailboxConfig

TokenProvider = Callable[[MailboxConfig], str]

# Everything that means "this connection is unusable; reconnect later".
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,  # includes socket.timeout, ssl.SSLError, ConnectionError
    imaplib.IMAP4.abort,
    IMAPClientError,  # = imaplib.IMAP4.error: a NO/BAD answer, also at login
    EOFError,
)


class ConnectionLost(Exception):
    """The server said BYE or fell silent: reconnect."""


def command_token(cfg: MailboxConfig) -> str:
    """An OAuth2 access token printed by the configured command (e.g. a refresh helper)."""
    assert cfg.oauth2_token_command is not None
    done = subprocess.run(
        cfg.oauth2_token_command,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0 or not done.stdout.strip():
        raise PermissionError(
            f"token command for {cfg.name} failed ({done.returncode}): {done.stderr.strip()[:200]}"
        )
    return done.stdout.strip()


def connect(cfg: MailboxConfig, token_provider: TokenProvider | None = None) -> IMAPClient:
    """Connect, secure and log in; the caller selects the folder."""
    timeout = SocketTimeout(connect=cfg.connect_timeout, read=cfg.read_timeout)
    context = ssl.create_default_context()
    client = IMAPClient(
        cfg.host,
        port=cfg.effective_port,
        use_uid=True,
        ssl=cfg.security == "tls",
        ssl_context=context,
        timeout=timeout,
    )
    try:
        if cfg.security == "starttls":
            client.starttls(context)
        if cfg.oauth2_token_command is not None or token_provider is not None:
            token = (token_provider or command_token)(cfg)
            client.oauth2_login(cfg.username, token)
        else:
            client.login(cfg.username, cfg.resolved_password() or "")
    except BaseException:
        close_quietly(client)
        raise
    return client


def close_quietly(client: IMAPClient | None) -> None:
    """Log out if the connection still answers; never block longer than the socket timeout."""
    if client is None:
        return
    try:
        client.logout()
    except NETWORK_ERRORS:
        with contextlib.suppress(*NETWORK_ERRORS):
            client.shutdown()

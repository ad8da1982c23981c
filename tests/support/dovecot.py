"""A throwaway Dovecot IMAP server on 127.0.0.1 for tests (recipe in PITFALLS.md).

Each server lives in its own temp dir with its own config and port; it is started with
``dovecot -c CONF`` and stopped with ``doveadm -c CONF stop``. Any account name logs in
with the one password (a static passdb), so every test can take a fresh, empty account.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

USER = "support"
PASSWORD = "secret-pw"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def require_dovecot() -> str:
    """The dovecot binary, or skip (fail under CI, where it must be installed)."""
    binary = shutil.which("dovecot") or next(
        (p for p in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.path.exists(p)), None)
    if binary is None:
        message = "dovecot is not installed (apt-get install dovecot-imapd)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


@dataclass
class Dovecot:
    root: Path
    port: int
    binary: str
    host: str = "127.0.0.1"
    user: str = USER
    password: str = PASSWORD

    @property
    def conf(self) -> Path:
        return self.root / "dovecot.conf"

    @property
    def maildir(self) -> Path:
        return self.root / "mail" / self.user

    def doveadm(self, *args: str) -> str:
        doveadm = str(Path(self.binary).with_name("doveadm"))
        if not os.path.exists(doveadm):
            doveadm = shutil.which("doveadm") or "doveadm"
        done = subprocess.run([doveadm, "-c", str(self.conf), *args], capture_output=True,
                              text=True, timeout=20, check=False, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"doveadm {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def kick(self, user: str | None = None) -> None:
        self.doveadm("kick", user or self.user)

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if os.getuid() == 0:
            self.root.chmod(0o755)  # the mail processes run as nobody
            (self.root / "mail").mkdir(mode=0o777, exist_ok=True)
            (self.root / "mail").chmod(0o777)
        (self.root / "run").mkdir(exist_ok=True)
        (self.root / "state").mkdir(exist_ok=True)
        self.conf.write_text(_config(self.root, self.port, self.password))
        # The daemon forks and its children keep inherited pipes open: never capture them.
        subprocess.run([self.binary, "-c", str(self.conf)], check=True, timeout=20,
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(100).startswith(b"* OK"):
                        return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"dovecot did not listen on {self.port}: {self.log()}")

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self.doveadm("stop")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""


def _config(root: Path, port: int, password: str) -> str:
    return f"""
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
{_users()}
passdb {{
  # Any user name logs in with the one password: each test takes a fresh, empty account.
  driver = static
  args = password={password}
}}
userdb {{
  driver = static
  args = {_mail_owner()} home={root}/mail/%u
}}
mail_location = maildir:{root}/mail/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
"""


def _users() -> str:
    """As root, Dovecot's own unprivileged users; otherwise everything runs as us."""
    if os.getuid() == 0:
        return ""
    import pwd

    me = pwd.getpwuid(os.getuid()).pw_name
    return f"default_internal_user = {me}\ndefault_login_user = {me}"


def _mail_owner() -> str:
    if os.getuid() == 0:
        return "uid=nobody gid=nogroup"
    return f"uid={os.getuid()} gid={os.getgid()}"

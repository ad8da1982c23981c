"""``postdesk user`` commands, and the pure parts: image blocking, file names, the limiter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import select

from postdesk.admin.app import create_app
from postdesk.admin.message_html import block_remote_images, content_disposition, safe_filename
from postdesk.admin.passwords import verify_password
from postdesk.admin.ratelimit import LoginLimiter
from postdesk.gateway.app import App
from postdesk.gateway.cli import main
from postdesk.gateway.settings import Settings
from postdesk.store.models import Agent
from tests.admin.conftest import sign_in
from tests.support import with_settings


def _env(settings: Settings) -> dict[str, str]:
    return {
        "POSTDESK_DATA_DIR": str(settings.data_dir),
        "POSTDESK_DATABASE_URL": settings.resolved_database_url,
        "POSTDESK_SECRET_KEY": "test-secret-key-0123456789",
    }


def test_user_add_and_token(app: App, settings: Settings) -> None:
    runner = CliRunner()
    env = _env(settings)
    r = runner.invoke(
        main,
        [
            "user",
            "add",
            "Boss@Staff.example",
            "--name",
            "Boss",
            "--role",
            "admin",
            "--password-stdin",
        ],
        input="a long enough password\n",
        env=env,
    )
    assert r.exit_code == 0, r.output
    assert "created admin boss@staff.example" in r.output
    with app.db.sessions() as s:
        agent = s.scalar(select(Agent).where(Agent.email == "boss@staff.example"))
        assert agent is not None and agent.role == "admin"
        assert verify_password(agent.password_hash, "a long enough password")
    short = runner.invoke(
        main, ["user", "add", "x@staff.example", "--password-stdin"], input="short\n", env=env
    )
    assert short.exit_code != 0 and "at least" in short.output
    r = runner.invoke(main, ["user", "token", "boss@staff.example"], env=env)
    assert r.exit_code == 0, r.output
    token = r.output.strip()
    with TestClient(create_app(app), base_url="http://127.0.0.1") as c:
        ok = c.get("/api/clients", headers={"Authorization": f"Bearer {token}"})
        assert ok.status_code == 200
        sign_in(c, "boss@staff.example", "a long enough password")
        assert c.get("/admin/config").status_code == 200
    missing = runner.invoke(main, ["user", "token", "nobody@staff.example"], env=env)
    assert missing.exit_code != 0


def test_cookie_is_secure_behind_https(app: App, settings: Settings, tmp_path: Path) -> None:
    secure = App(with_settings(settings, portal_url="https://desk.example"))
    try:
        with TestClient(create_app(secure), base_url="https://desk.example") as c:
            r = c.get("/admin/login")
            assert "secure" in r.headers["set-cookie"].lower()
    finally:
        secure.close()


def test_remote_images_become_placeholders() -> None:
    html = (
        '<p>x</p><img alt="a" src="https://t.example/p.gif">'
        '<img src="cid:logo"><img src=//t.example/q>'
    )
    out, n = block_remote_images(html)
    assert n == 2
    assert ' src="https://' not in out and " src=//" not in out
    assert 'data-src="https://t.example/p.gif"' in out and 'src="cid:logo"' in out


def test_safe_filenames() -> None:
    assert safe_filename("../../etc/passwd") == "passwd"
    assert safe_filename('a"b\r\n.txt') == "ab.txt"
    assert safe_filename("..") == "attachment"
    assert safe_filename("C:\\Users\\x\\évil.pdf") == "évil.pdf"
    header = content_disposition("../r\u00e9sum\u00e9\n.pdf")
    assert header.startswith('attachment; filename="r_sum_.pdf"') or 'filename="r' in header
    assert "\n" not in header and "/" not in header.split("filename*")[0]


def test_limiter_window() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    limiter = LoginLimiter(max_failures=3, window=timedelta(minutes=15))
    for i in range(3):
        assert not limiter.blocked("a@x", "1.2.3.4", t0 + timedelta(minutes=i))
        limiter.failed("A@x", "1.2.3.4", t0 + timedelta(minutes=i))
    assert limiter.blocked("a@x", "1.2.3.4", t0 + timedelta(minutes=3))
    assert not limiter.blocked("a@x", "5.6.7.8", t0 + timedelta(minutes=3))
    assert not limiter.blocked("a@x", "1.2.3.4", t0 + timedelta(minutes=15, seconds=1))

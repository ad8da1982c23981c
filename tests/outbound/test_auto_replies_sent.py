"""The index of automatic mail the auto-reply caps count from: written with each automatic
outbox row, counted per recipient, pruned after two days, and filled by its migration."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, text

from postdesk.gateway.app import App
from postdesk.gateway.settings import Settings
from postdesk.outbound.compose import OutgoingMail
from postdesk.outbound.limits import AutoReplyLimits
from postdesk.outbound.outbox import enqueue
from postdesk.outbound.suppression import blocked, prune_auto_replies, suppress
from postdesk.store.db import Database
from postdesk.store.enums import OutboxState
from postdesk.store.migrate import upgrade
from postdesk.store.models import OutboxItem
from postdesk.store.suppression_models import AutoReplySent, Suppression
from tests.gateway.test_cli_suppressions import run
from tests.support.databases import PG_ADMIN_URL

LIMITS = AutoReplyLimits(timedelta(minutes=10), 3)


def _mail(n: int, to: tuple[str, ...], automatic: bool = True) -> OutgoingMail:
    return OutgoingMail(
        kind="ack" if automatic else "reply",
        ticket_id=None,
        from_address="support@example.com",
        from_name="Support",
        to=to,
        subject=f"Mail {n}",
        text="Hello",
        message_id=f"cap-{n}@example.com",
        automatic=automatic,
    )


def test_caps_count_each_recipient_of_automatic_mail_only(app: App) -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with app.db.transaction() as s:
        suppress(s, "gone@client.example", "5.1.1", now + timedelta(days=7), now)
        for n in range(3):
            when = now - timedelta(hours=3 * n)
            enqueue(s, _mail(n, ("Ana@Client.example", "gone@client.example")), when)
        enqueue(s, _mail(7, ("bob@client.example",), automatic=False), now)
        enqueue(s, _mail(8, ("carl@client.example",)), now - timedelta(days=1, minutes=1))
        enqueue(s, _mail(9, ("dora@client.example",)), now - timedelta(minutes=2))
    with app.db.sessions() as s:
        held, refused = blocked(
            s, ["ana@client.example", "BOB@client.example", "carl@client.example",
                "dora@client.example", "gone@client.example"], now, LIMITS
        )  # fmt: skip
    # Three today reach the cap; a reply is not automatic; yesterday's does not count; two
    # minutes ago is inside the interval; a suppressed address was never sent anything.
    assert sorted(refused) == ["ana@client.example", "dora@client.example"]
    assert "3" in refused["ana@client.example"]
    assert held == {"gone@client.example": "suppressed: 5.1.1"}  # asked in the same statement

    with app.db.transaction() as s:
        # Two days on, less four hours: ana's mail of six hours before and carl's go.
        assert prune_auto_replies(s, now + timedelta(days=2, hours=-4)) == 2
    with app.db.sessions() as s:
        left = sorted(s.scalars(select(AutoReplySent.email)))
    assert left == ["ana@client.example", "ana@client.example", "dora@client.example"]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path) -> Iterator[Database]:  # type: ignore[no-untyped-def]
    """A database with no tables yet, for migrating step by step."""
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'steps.sqlite3'}")
        yield db
        db.dispose()
        return
    if request.getfixturevalue("postgres_server") is None:
        pytest.skip("PostgreSQL not reachable (set POSTDESK_TEST_PG_URL)")
    admin = Database(PG_ADMIN_URL)
    name = f"postdesk_steps_{uuid.uuid4().hex[:10]}"
    with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    db = Database(f"{PG_ADMIN_URL.rpartition('/')[0]}/{name}")
    try:
        yield db
    finally:
        db.dispose()
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_migration_copies_the_last_days_of_automatic_mail(empty_database: Database) -> None:
    db = empty_database
    upgrade(db, "0013")
    now = datetime.now(UTC)

    def row(n: int, to: list[str], age: timedelta, **extra: object) -> OutboxItem:
        return OutboxItem(
            kind="ack",
            automatic=extra.get("automatic", True),
            mail_from="support@example.com",
            recipients=to,
            message_id=f"m{n}@example.com",
            raw=b"x",
            state=extra.get("state", "sent"),
            created_at=now - age,
            next_attempt_at=now - age,
        )

    with db.transaction() as s:
        s.add_all(
            [
                row(1, ["Ana@Client.example", "bob@client.example"], timedelta(hours=5)),
                row(2, ["ana@client.example"], timedelta(hours=30), state="pending"),
                row(3, ["carl@client.example"], timedelta(hours=1), state="suppressed"),
                row(4, ["dora@client.example"], timedelta(hours=1), automatic=False),
                row(5, ["eve@client.example"], timedelta(days=3)),
            ]
        )
    upgrade(db)
    with db.sessions() as s:
        copied = sorted((r.email, r.sent_at) for r in s.scalars(select(AutoReplySent)))
    assert copied == sorted(
        [
            ("ana@client.example", now - timedelta(hours=5)),
            ("bob@client.example", now - timedelta(hours=5)),
            ("ana@client.example", now - timedelta(hours=30)),
        ]
    )


def test_an_automatic_mail_retried_after_suppression_counts(settings: Settings, app: App) -> None:
    """``outbox retry`` on an ack held back by a suppression sends it: the caps see it."""
    now = app.clock()
    with app.db.transaction() as s:
        suppress(s, "ana@client.example", "5.1.1", now + timedelta(days=7), now)
        held = enqueue(s, _mail(1, ("Ana@Client.example",)), now).id
    with app.db.transaction() as s:
        s.execute(delete(Suppression))
    with app.db.sessions() as s:
        assert blocked(s, ["ana@client.example"], now, LIMITS) == ({}, {})
    result = run(settings, "outbox", "retry", str(held))
    assert result.exit_code == 0, result.output
    with app.db.sessions() as s:
        assert s.get(OutboxItem, held).state == OutboxState.PENDING  # type: ignore[union-attr]
        assert list(s.scalars(select(AutoReplySent.email))) == ["ana@client.example"]
        assert "ana@client.example" in blocked(s, ["ana@client.example"], now, LIMITS)[1]

"""The pure decisions of document requests: which file fills which document, when to remind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from postdesk.rules.documents import (
    DocumentError,
    IncomingFile,
    Match,
    Wanted,
    clean_names,
    match_attachments,
    reminder_due,
    similarity,
)

PASSPORT, ADDRESS, PAYSLIP = (
    Wanted(1, "Passport"),
    Wanted(2, "Proof of address"),
    Wanted(3, "Payslip"),
)


def files(*names: str) -> list[IncomingFile]:
    return [IncomingFile(10 + n, name) for n, name in enumerate(names)]


def pairs(matches: list[Match]) -> list[tuple[int, int, str]]:
    return [(m.document_id, m.attachment_id, m.how) for m in matches]


@pytest.mark.parametrize(
    ("document", "filename", "expected"),
    [
        ("Passport", "passport.pdf", 1.0),
        ("Passport", "Scan of my PASSPORT.JPG", 1.0),
        ("Utility bill", "utilitybill_may.pdf", 1.0),
        ("Utility bill", "bill-2026-05.pdf", 0.5),
        ("Bank statements", "statement_march.pdf", 0.5),
        ("Passport", "IMG_2231.jpg", 0.0),
        ("ID", "invoice_ideas.pdf", 0.0),  # a short name never matches inside another word
        ("Proof of address", "address.pdf", 0.5),
    ],
)
def test_similarity(document: str, filename: str, expected: float) -> None:
    assert similarity(document, filename) == expected


def test_one_open_document_takes_the_first_file() -> None:
    assert pairs(match_attachments([PASSPORT], files("IMG_1.jpg", "IMG_2.jpg"))) == [
        (1, 10, "order")
    ]


def test_several_documents_are_matched_by_name_whatever_the_order() -> None:
    got = match_attachments([PASSPORT, ADDRESS, PAYSLIP], files("payslip.pdf", "passport.png"))
    assert pairs(got) == [(1, 11, "name"), (3, 10, "name")]


def test_unnamed_files_fill_the_rest_in_the_order_asked() -> None:
    got = match_attachments(
        [PASSPORT, ADDRESS, PAYSLIP], files("scan1.pdf", "address.pdf", "x.pdf")
    )
    assert sorted(pairs(got)) == [(1, 10, "order"), (2, 11, "name"), (3, 12, "order")]


def test_received_documents_are_not_filled_again() -> None:
    done = Wanted(1, "Passport", received=True)
    # The passport again fills nothing; the unnamed file goes to what is still open.
    got = match_attachments([done, ADDRESS], files("passport.pdf", "scan.pdf"))
    assert pairs(got) == [(2, 11, "order")]
    assert match_attachments([done], files("anything.pdf")) == []


def test_inline_and_empty_parts_never_count() -> None:
    logo = IncomingFile(10, "passport-logo.png", inline=True)
    empty = IncomingFile(11, "passport.pdf", size=0)
    assert match_attachments([PASSPORT], [logo, empty]) == []
    assert match_attachments([PASSPORT], []) == []


def test_more_documents_than_files_leaves_the_rest_open() -> None:
    got = match_attachments([PASSPORT, ADDRESS, PAYSLIP], files("payslip.pdf"))
    assert pairs(got) == [(3, 10, "name")]


def test_clean_names() -> None:
    assert clean_names(["  Passport ", "passport", "Proof  of address", ""]) == [
        "Passport",
        "Proof of address",
    ]
    assert clean_names(["Pass\x00port", "ID\tcard"]) == ["Pass port", "ID card"]
    with pytest.raises(DocumentError, match="at least one"):
        clean_names(["  ", ""])
    with pytest.raises(DocumentError, match="at most 200"):
        clean_names(["x" * 201])
    with pytest.raises(DocumentError, match="at most 20"):
        clean_names([f"doc {n}" for n in range(21)])


def test_reminder_due() -> None:
    t0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def due(now: datetime, last: datetime | None = None, sent: int = 0) -> bool:
        return reminder_due(t0, last, sent, now, every_days=3, max_reminders=2)

    assert not due(t0 + timedelta(days=2, hours=23))
    assert due(t0 + timedelta(days=3))
    last = t0 + timedelta(days=3)
    assert not due(last, last, 1)  # the same moment again: nothing
    assert not due(last + timedelta(days=2), last, 1)
    assert due(last + timedelta(days=3), last, 1)
    assert not due(last + timedelta(days=30), last + timedelta(days=3), 2)  # the maximum

"""Sender verification over real-world Authentication-Results headers (no DNS)."""

from __future__ import annotations

import pytest

from postdesk.inbound.sender_auth import aligned, verify_sender

OURS = "mx.ourdesk.example"
FROM = "alice@example.com"

# Formats as written by the MTAs named; the authserv-id is ours unless the case says otherwise.
GMAIL = (
    "mx.google.com;\r\n       dkim=pass header.i=@example.com header.s=20230601 header.b=AbCdEf12;"
    "\r\n       spf=pass (google.com: domain of alice@example.com designates 209.85.220.41 as "
    "permitted sender) smtp.mailfrom=alice@example.com;\r\n       dmarc=pass (p=NONE sp=NONE "
    "dis=NONE) header.from=example.com"
)
M365_NO_ID = (
    "spf=pass (sender IP is 40.107.22.51) smtp.mailfrom=example.com; dkim=pass (signature was "
    "verified) header.d=example.com;dmarc=pass action=none header.from=example.com;compauth=pass "
    "reason=100"
)
OPENDKIM = (
    f"{OURS};\r\n\tdkim=pass (2048-bit key; unprotected) header.d=example.com "
    "header.i=@example.com header.a=rsa-sha256 header.s=mail header.b=AbCd1234;"
    "\r\n\tdkim-atps=neutral"
)
OPENDMARC = f"{OURS}; dmarc=pass (p=reject dis=none) header.from=example.com"
OPENDMARC_FAIL = f"{OURS}; dmarc=fail (p=reject dis=none) header.from=example.com"
POSTFIX_SPF = f"{OURS}; spf=pass smtp.mailfrom=bounces.example.com"
AMAVIS = f"{OURS} (amavisd-new); dkim=pass header.d=mail.example.com header.s=s1"

CASES = [
    # (name, headers, authenticated, mode, expected)
    ("opendkim aligned pass", [OPENDKIM], False, "authres", True),
    ("opendmarc pass", [OPENDMARC], False, "authres", True),
    ("spf pass on a subdomain bounce address", [POSTFIX_SPF], False, "authres", True),
    ("dkim from a subdomain signer (amavis comment)", [AMAVIS], False, "authres", True),
    ("dmarc fail", [OPENDMARC_FAIL], False, "authres", False),
    (
        "gmail header: not our authserv-id",
        [f"mx.google.com; {GMAIL.split(';', 1)[1]}"],
        False,
        "authres",
        False,
    ),
    ("gmail format under our id", [OURS + ";" + GMAIL.split(";", 1)[1]], False, "authres", True),
    ("microsoft 365 without authserv-id is ignored", [M365_NO_ID], False, "authres", False),
    ("microsoft 365 with our id", [f"{OURS} 1; " + M365_NO_ID], False, "authres", True),
    (
        "forger's pass from another id beside our fail",
        ["evil.example; dkim=pass header.d=example.com", OPENDMARC_FAIL],
        False,
        "authres",
        False,
    ),
    (
        "dkim pass for an unrelated domain",
        [f"{OURS}; dkim=pass header.d=evil.example"],
        False,
        "authres",
        False,
    ),
    (
        "dkim pass for a look-alike domain",
        [f"{OURS}; dkim=pass header.d=notexample.com"],
        False,
        "authres",
        False,
    ),
    (
        "dkim neutral",
        [f"{OURS}; dkim=neutral (body hash did not verify) header.d=example.com"],
        False,
        "authres",
        False,
    ),
    ("spf softfail", [f"{OURS}; spf=softfail smtp.mailfrom=example.com"], False, "authres", False),
    (
        "dmarc pass for another From domain",
        [f"{OURS}; dmarc=pass header.from=evil.example"],
        False,
        "authres",
        False,
    ),
    (
        "authserv-id compared case-insensitively",
        [OPENDKIM.replace(OURS, OURS.upper())],
        False,
        "authres",
        True,
    ),
    ("none result", [f"{OURS}; none"], False, "authres", False),
    ("garbage header", [f"{OURS}; ;;; ==="], False, "authres", False),
    ("no header at all", [], False, "authres", False),
    ("authenticated session in authres mode", [], True, "authres", True),
    ("smtp-auth ignores a passing header", [OPENDKIM], False, "smtp-auth", False),
    ("smtp-auth with an authenticated session", [], True, "smtp-auth", True),
    ("none trusts From", [], False, "none", True),
]


@pytest.mark.parametrize(
    ("headers", "authenticated", "mode", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_verify_sender(headers: list[str], authenticated: bool, mode: str, expected: bool) -> None:
    check = verify_sender(
        FROM,
        [("Received", "from x by y"), *(("Authentication-Results", h) for h in headers)],
        mode=mode,  # type: ignore[arg-type]
        authserv_ids=[OURS],
        authenticated=authenticated,
    )
    assert check.verified is expected, check.reason
    assert check.reason


def test_no_configured_authserv_id_trusts_no_header() -> None:
    check = verify_sender(
        FROM,
        [("Authentication-Results", OPENDKIM)],
        mode="authres",
        authserv_ids=[],
        authenticated=False,
    )
    assert not check.verified
    assert "authserv_id" in check.reason


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("example.com", "example.com", True),
        ("mail.example.com", "example.com", True),
        ("example.com", "eu.example.com", True),
        ("EXAMPLE.com.", "example.com", True),
        ("a.example.co.uk", "b.example.co.uk", False),
        ("notexample.com", "example.com", False),
        ("example.com.evil.example", "example.com", False),
        ("", "example.com", False),
    ],
)
def test_alignment(a: str, b: str, expected: bool) -> None:
    assert aligned(a, b) is expected

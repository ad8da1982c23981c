"""Is this mail really from the address in its From? A pure check over headers we were given.

Mail counts as an agent's only when its From names an active agent AND it passes one check,
chosen by the ``agent_verification`` setting:

- ``authres`` (default): an ``Authentication-Results`` header written by *our own* MTA (its
  authserv-id is configured) reports DKIM pass with ``header.d`` aligned to the From domain,
  SPF pass with the ``smtp.mailfrom`` domain aligned, or DMARC pass for the From domain — or
  the message came through an authenticated SMTP session / trusted relay. Headers with any
  other authserv-id are ignored: a forger can write one. The MTA must remove incoming headers
  that carry its own authserv-id (RFC 8601 section 5; OpenDMARC, rspamd and Exim do).
- ``smtp-auth``: only an authenticated SMTP session or a trusted relay counts.
- ``none``: From alone counts (an installation whose only way in is already trusted).

No DNS is queried here: the MTA has done that work, and the ingest path must not block on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

import authres

Mode = Literal["authres", "smtp-auth", "none"]
MODES: tuple[Mode, ...] = ("authres", "smtp-auth", "none")


@dataclass(frozen=True, slots=True)
class SenderCheck:
    verified: bool
    reason: str  # for the audit trail: which evidence counted, or why none did


def verify_sender(
    from_address: str,
    headers: Iterable[tuple[str, str]],
    *,
    mode: Mode,
    authserv_ids: Sequence[str],
    authenticated: bool,
) -> SenderCheck:
    """Whether ``from_address`` is proven by the transport or our MTA's verdicts."""
    if mode == "none":
        return SenderCheck(True, "sender verification is off (agent_verification=none)")
    if authenticated:
        return SenderCheck(True, "arrived through an authenticated SMTP session or trusted relay")
    if mode == "smtp-auth":
        return SenderCheck(False, "not sent through an authenticated SMTP session")
    domain = from_address.rpartition("@")[2].lower()
    if not domain:
        return SenderCheck(False, "From has no domain")
    ids = {i.lower() for i in authserv_ids if i}
    if not ids:
        return SenderCheck(False, "no authserv_id configured: Authentication-Results not trusted")
    seen_ours = False
    for name, value in headers:
        if name.lower() != "authentication-results":
            continue
        parsed = _parse(value)
        if parsed is None or (parsed.authserv_id or "").lower() not in ids:
            continue
        seen_ours = True
        for result in parsed.results:
            reason = _passing(result, domain)
            if reason is not None:
                return SenderCheck(True, f"{parsed.authserv_id}: {reason}")
    if not seen_ours:
        return SenderCheck(False, "no Authentication-Results from our MTA (" + ", ".join(ids) + ")")
    return SenderCheck(False, f"no aligned DKIM, SPF or DMARC pass for {domain}")


def aligned(domain: str, from_domain: str) -> bool:
    """Relaxed alignment without a public-suffix list: the same domain, or one a subdomain of
    the other. Siblings (a.example.co.uk, b.example.co.uk) never align; a signature for a bare
    public suffix cannot be obtained by a forger, so it needs no list to refuse."""
    a, b = domain.strip().strip(".").lower(), from_domain.strip().strip(".").lower()
    if not a or not b:
        return False
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def _parse(value: str) -> authres.AuthenticationResultsHeader | None:
    try:
        return authres.AuthenticationResultsHeader.parse_value(" ".join(value.split()))
    except Exception:  # authres raises its own errors and ValueError on odd input
        return None


def _prop(result: authres.core.AuthenticationResult, ptype: str, name: str) -> str:
    for prop in result.properties:
        if prop.type.lower() == ptype and prop.name.lower() == name:
            return str(prop.value or "")
    return ""


def _passing(result: authres.core.AuthenticationResult, domain: str) -> str | None:
    """Why this result proves ``domain``, or None."""
    method, verdict = (result.method or "").lower(), (result.result or "").lower()
    if verdict != "pass":
        return None
    if method == "dkim":
        signer = _prop(result, "header", "d") or _prop(result, "header", "i").rpartition("@")[2]
        if signer and aligned(signer, domain):
            return f"dkim=pass header.d={signer}"
    elif method == "spf":
        mailfrom = _prop(result, "smtp", "mailfrom").rpartition("@")[2]
        if mailfrom and aligned(mailfrom, domain):
            return f"spf=pass smtp.mailfrom={mailfrom}"
    elif method == "dmarc":
        policy_domain = _prop(result, "header", "from").lower()
        # DMARC evaluates the From domain itself; a different header.from is not about this From.
        if not policy_domain or policy_domain == domain:
            return f"dmarc=pass header.from={policy_domain or domain}"
    return None

"""Email templates as the admin edits them: the built-in parts, sample data to render them
with, and the check an edit must pass before it is stored (syntax, every variable known,
nothing the sandbox refuses)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.exceptions import SecurityError, UndefinedError

from postdesk.outbound.render import BUILTIN, MAX_OUTPUT, OVERRIDE_PREFIX, Renderer

PARTS = ("subject", "txt", "html")
MAX_TEMPLATE = 50_000


class TemplateProblem(ValueError):
    """An edit that may not be stored; the message names the part and, when known, the line."""


@dataclass(frozen=True, slots=True)
class Preview:
    subject: str
    text: str
    html: str | None


def builtin_names() -> list[str]:
    return sorted(p.name.removesuffix(".txt.j2") for p in BUILTIN.glob("*.txt.j2"))


def filename(name: str, part: str) -> str:
    return f"{name}.{part}.j2"


def document_name(name: str, part: str) -> str:
    return OVERRIDE_PREFIX + filename(name, part)


def builtin_part(name: str, part: str) -> str | None:
    path = BUILTIN / filename(name, part)
    return path.read_text(encoding="utf-8") if path.exists() else None


class _Fixed:
    """Overrides that are the edit being checked (the ``Overrides`` protocol)."""

    def __init__(self, docs: dict[str, str]) -> None:
        self.docs = docs

    def get(self, name: str) -> str | None:
        return self.docs.get(name)

    def version(self, prefix: str) -> int:
        return 0


def check(name: str, parts: dict[str, str], *, support_name: str, portal_url: str) -> Preview:
    """Render ``parts`` (part -> text; a missing or empty part is the built-in one) with
    sample data; raises ``TemplateProblem``."""
    if name not in builtin_names():
        raise TemplateProblem(f"no built-in template {name!r}")
    edits = {p: t for p, t in parts.items() if p in PARTS and t.strip()}
    for part, text in edits.items():
        if len(text) > MAX_TEMPLATE:
            raise TemplateProblem(f"{part}: longer than {MAX_TEMPLATE} characters")
    if "subject" not in edits and builtin_part(name, "subject") is None:
        raise TemplateProblem("subject: a template needs a subject")
    renderer = Renderer(overrides=_Fixed({document_name(name, p): t for p, t in edits.items()}))
    out: dict[str, str | None] = {}
    for context in sample_contexts(name, support_name, portal_url):
        for part in PARTS:
            if part == "html" and "html" not in edits and builtin_part(name, "html") is None:
                out.setdefault("html", None)
                continue
            out.setdefault(part, _render(renderer, name, part, context))  # shows the first
    subject = " ".join((out["subject"] or "").split())
    if not subject:
        raise TemplateProblem("subject: renders empty")
    return Preview(subject, out["txt"] or "", out.get("html"))


def _render(renderer: Renderer, name: str, part: str, context: dict[str, Any]) -> str:
    try:
        text = renderer.render_part(filename(name, part), context, html=part == "html")
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"{part}: line {exc.lineno}: syntax error: {exc.message}") from None
    except UndefinedError as exc:
        raise TemplateProblem(f"{part}: unknown variable: {exc.message}") from None
    except SecurityError as exc:
        raise TemplateProblem(f"{part}: refused by the sandbox: {exc}") from None
    except (TemplateError, TypeError, ValueError, AttributeError, ArithmeticError) as exc:
        raise TemplateProblem(f"{part}: {type(exc).__name__}: {exc}") from None
    if len(text) > MAX_OUTPUT:
        raise TemplateProblem(f"{part}: renders more than {MAX_OUTPUT} characters")
    return text


def sample_contexts(name: str, support_name: str, portal_url: str) -> list[dict[str, Any]]:
    """What the gateway passes to ``name``, with made-up values; a client template is tried
    with and without suggested articles (both happen)."""
    base: dict[str, Any] = {"ticket": _ticket(), "support_name": support_name}
    base["portal_url"] = portal_url
    extra: list[dict[str, Any]]
    agent = SimpleNamespace(email="ana@staff.example", name="Ana Agent")
    if name == "agent_reply":
        extra = [{"text": "Thanks, we fixed it.", "agent_name": "Ana Agent", "listed": []}]
        extra.append({**extra[0], "listed": ["big.zip"], "agent_name": ""})
    elif name == "agent_notification":
        last = SimpleNamespace(
            visibility="public",
            from_name="Carl Client",
            from_address="carl@client.example",
            text_new="The printer is on fire.",
            text_full="The printer is on fire.",
        )
        extra = [
            {
                "agent": agent,
                "notice": SimpleNamespace(kind="new_ticket", summary="new ticket from carl"),
                "headline": "New ticket",
                "status": "Open",
                "last_message": last,
                "client": "Client Co",
                "requester": "carl@client.example",
            }
        ]
    elif name == "agent_command_error":
        error = SimpleNamespace(line="#status maybe", reason="unknown status 'maybe'")
        extra = [{"agent": agent, "errors": [error], "commands": ["#status open|pending"]}]
    else:  # client mail: acknowledgement, rule replies, reminders, closing messages
        url = f"{portal_url.rstrip('/')}/kb/reset-password"
        article = {"slug": "reset-password", "title": "How do I reset my password?", "url": url}
        extra = [
            {"requester_name": "Carl Client", "articles": [article]},
            {"requester_name": "", "articles": []},
        ]
    # A new ticket often has no assignee and no organisation yet: both shapes must render.
    return [base | e for e in extra] + [base | e | {"ticket": _ticket(bare=True)} for e in extra]


def _ticket(*, bare: bool = False) -> SimpleNamespace:
    staff = SimpleNamespace(email="ana@staff.example", name="Ana Agent")
    ticket = SimpleNamespace(
        id=1042,
        number=1042,
        subject="The printer is on fire",
        status="open",
        priority="P3",
        type="support",
        support_address="support@example.com",
        assignee=staff,
        requester=SimpleNamespace(email="carl@client.example", name="Carl Client"),
        org=SimpleNamespace(name="Client Co"),
        tags=[],
        created_at=datetime(2026, 11, 23, 9, 30, tzinfo=UTC),
    )
    if bare:
        ticket.assignee, ticket.org = None, None
    return ticket

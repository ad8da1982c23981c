"""What every admin request can reach: the gateway's parts, the templates, the login limiter."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from postdesk.admin.ratelimit import LoginLimiter
from postdesk.admin.ticket_extras import ticket_articles
from postdesk.gateway.app import App

TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "admin"


def make_templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=True,  # every page escapes by default; nothing is marked safe by hand
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda v: v.strftime("%Y-%m-%d %H:%M") if v else "-"
    env.globals["ticket_articles"] = ticket_articles  # the ticket page's KB partial
    return Jinja2Templates(env=env)


@dataclass
class AdminState:
    core: App
    templates: Jinja2Templates = field(default_factory=make_templates)
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # Set by ``postdesk serve`` so a reply leaves at once instead of at the worker's next poll.
    wake_outbox: Callable[[], None] = lambda: None
    secure_cookies: bool = False

"""Render email templates in a sandbox: staff can edit them, so they must not reach Python.

Templates live in ``postdesk/templates/email`` as ``<name>.subject.j2``, ``<name>.txt.j2`` and
an optional ``<name>.html.j2``; an override directory (configured) is searched first. The
HTML environment autoescapes; outputs are capped because the sandbox has no CPU limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined, TemplateNotFound
from jinja2.sandbox import ImmutableSandboxedEnvironment

BUILTIN = Path(__file__).resolve().parent.parent / "templates" / "email"
MAX_OUTPUT = 200_000


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class RenderError(ValueError):
    pass


class Renderer:
    def __init__(self, override_dir: Path | None = None) -> None:
        dirs = [str(p) for p in (override_dir, BUILTIN) if p is not None]
        loader = ChoiceLoader([FileSystemLoader(d) for d in dirs])
        self._text = ImmutableSandboxedEnvironment(
            loader=loader,
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._html = ImmutableSandboxedEnvironment(
            loader=loader,
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        try:
            subject = self._text.get_template(f"{name}.subject.j2").render(context)
            text = self._text.get_template(f"{name}.txt.j2").render(context)
            try:
                html: str | None = self._html.get_template(f"{name}.html.j2").render(context)
            except TemplateNotFound:
                html = None
        except TemplateNotFound as exc:
            raise RenderError(f"template {name!r} not found: {exc}") from exc
        subject = " ".join(subject.split())  # a template must not smuggle line breaks in
        if len(text) > MAX_OUTPUT or (html and len(html) > MAX_OUTPUT):
            raise RenderError(f"template {name!r} produced more than {MAX_OUTPUT} characters")
        return Rendered(subject[:900], text, html)

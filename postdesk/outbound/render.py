"""Render email templates in a sandbox: staff can edit them, so they must not reach Python.

Templates live in ``postdesk/templates/email`` as ``<name>.subject.j2``, ``<name>.txt.j2`` and
an optional ``<name>.html.j2``; an override directory (configured) is searched first. The
HTML environment autoescapes; outputs are capped because the sandbox has no CPU limit.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from jinja2 import (
    BaseLoader,
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment

from postdesk.store.models import Base

log = logging.getLogger(__name__)

BUILTIN = Path(__file__).resolve().parent.parent / "templates" / "email"
MAX_OUTPUT = 200_000


@dataclass(frozen=True, slots=True)
class Rendered:
    subject: str
    text: str
    html: str | None


class RenderError(ValueError):
    pass


OVERRIDE_PREFIX = "email/"  # the name of a template's stored override: "email/ack.txt.j2"


class Overrides(Protocol):
    """Stored template texts (``DocumentCache``): ``get`` a name, ``version`` of a prefix."""

    def get(self, name: str) -> str | None: ...

    def version(self, prefix: str) -> Any: ...


class _OverrideLoader(BaseLoader):
    """Stored overrides (edited in the admin) first, then the files. A compiled template is
    reused while the overrides' version is unchanged: an edit reaches every process."""

    def __init__(self, overrides: Overrides, files: BaseLoader) -> None:
        self.overrides = overrides
        self.files = files

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        seen = self.overrides.version(OVERRIDE_PREFIX)
        stored = self.overrides.get(OVERRIDE_PREFIX + template)
        file_uptodate: Callable[[], bool] | None = None
        if stored is None:
            source, filename, file_uptodate = self.files.get_source(environment, template)
        else:
            source, filename = stored, None

        def unchanged() -> bool:
            if self.overrides.version(OVERRIDE_PREFIX) != seen:
                return False
            return file_uptodate is None or file_uptodate()

        return source, filename, unchanged


# What a template may read of a stored row (managers edit templates in the admin): the
# fields of the sample data the editor checks against, never a password or token hash.
TEMPLATE_FIELDS: dict[str, frozenset[str]] = {
    "Ticket": frozenset(
        [
            "id",
            "number",
            "subject",
            "status",
            "priority",
            "type",
            "support_address",
            "assignee",
            "requester",
            "org",
            "tags",
            "created_at",
            "updated_at",
            "resolved_at",
            "status_changed_at",
        ]
    ),
    "Agent": frozenset({"name", "email", "team", "role"}),
    "Contact": frozenset({"name", "email"}),
    "ClientOrg": frozenset({"name"}),
    "Message": frozenset(
        [
            "subject",
            "from_name",
            "from_address",
            "text_new",
            "text_full",
            "visibility",
            "kind",
            "direction",
            "created_at",
        ]
    ),
}


class _Sandbox(ImmutableSandboxedEnvironment):
    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, Base):  # a database row: only the listed fields
            return attr in TEMPLATE_FIELDS.get(type(obj).__name__, frozenset())
        return super().is_safe_attribute(obj, attr, value)


class Renderer:
    def __init__(
        self, override_dir: Path | None = None, *, overrides: Overrides | None = None
    ) -> None:
        dirs = [str(p) for p in (override_dir, BUILTIN) if p is not None]
        loader: BaseLoader = ChoiceLoader([FileSystemLoader(d) for d in dirs])
        # An edited template that fails on a real ticket (a field the sample had, None here)
        # must not fail the message: the files' version is used instead, and the error logged.
        self._fallback = Renderer(override_dir) if overrides is not None else None
        if overrides is not None:
            loader = _OverrideLoader(overrides, loader)
        self._text = _Sandbox(
            loader=loader,
            autoescape=False,
            undefined=StrictUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self._html = _Sandbox(
            loader=loader,
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render_part(self, filename: str, context: dict[str, Any], *, html: bool) -> str:
        """One template file (``ack.txt.j2``) on its own: the editor checks parts one by one."""
        env = self._html if html else self._text
        return env.get_template(filename).render(context)

    def render(self, name: str, context: dict[str, Any]) -> Rendered:
        try:
            return self._render(name, context)
        except (TemplateError, RenderError) as exc:
            if self._fallback is None:
                raise
            log.error("template %r (edited) failed, using the built-in one: %s", name, exc)
            return self._fallback.render(name, context)

    def _render(self, name: str, context: dict[str, Any]) -> Rendered:
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

"""The rules editor, email templates, KB admin and the public help centre: one entry for
``create_app``."""

from __future__ import annotations

from fastapi import APIRouter

from postdesk.admin import public_kb, web_kb, web_rules, web_templates

ROUTERS: tuple[APIRouter, ...] = (
    web_rules.router,
    web_templates.router,
    web_kb.router,
    public_kb.router,
)

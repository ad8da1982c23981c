"""Schemathesis over the OpenAPI document FastAPI generates: every /api/ operation, fed
inputs generated from its schema (and ones that break it), never answers 500."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from postdesk.admin.app import create_app
from postdesk.gateway.app import App
from postdesk.inbound.message import Envelope
from tests.admin.conftest import add_agent, add_token
from tests.support.mail import client_mail


@pytest.fixture
def api(app: App) -> Any:
    raw = client_mail("ana@client.example", "support@example.com", "Schema case", "Hello")
    app.accept(raw, Envelope("ana@client.example", ("support@example.com",)))
    return schemathesis.openapi.from_asgi("/api/openapi.json", create_app(app)).include(
        path_regex="^/api/"
    )


@pytest.fixture
def bearer(app: App) -> dict[str, str]:
    token = add_token(app, add_agent(app, "bot@staff.example", "admin"))
    return {"Authorization": f"Bearer {token}"}


def test_no_api_operation_answers_500(api: Any, bearer: dict[str, str]) -> None:
    tried = []
    for result in api.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
        def call(case: Any) -> None:
            response = case.call(headers=bearer)
            assert response.status_code < 500, (
                case.method,
                case.formatted_path,
                response.text[:500],
            )

        call()
        tried.append(f"{operation.method.upper()} {operation.path}")
    assert len(tried) >= 5, tried


def test_the_schema_covers_the_api(api: Any) -> None:
    paths = {op.ok().path for op in api.get_all_operations()}
    assert {"/api/tickets", "/api/tickets/{number}"} <= paths, paths

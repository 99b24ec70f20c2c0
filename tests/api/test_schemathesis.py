"""Property-based requests generated from /openapi.json (fetched with an auditor token), valid and invalid: no
answer is a server error, and every answer has a documented status, content type and body schema."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.conftest import auth

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SLOWEST_ANSWER = 120  # seconds


def test_no_server_error_and_every_response_matches_the_schema(api):  # type: ignore[no-untyped-def]
    response = api.get("/openapi.json")
    assert response.status_code == 200
    schema = schemathesis.openapi.from_dict(response.json())
    schema.app = api.client.app  # requests go to the app itself (ASGI), not over a socket
    headers = auth(api.tokens["auditor"])
    tried = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def call(case):  # type: ignore[no-untyped-def]
            # A snapshot is built by a child process (an interpreter started, then the bundle): seconds, more on a
            # loaded machine, where the client's default of 10 s is not enough.
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=SLOWEST_ANSWER)

        call()
        tried.append(operation.label)
    assert len(tried) == sum(len(methods) for methods in response.json()["paths"].values()) >= 21

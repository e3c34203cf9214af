"""/openapi.json: a valid OpenAPI document that describes every route, and that the
service keeps to (schemathesis generates requests from it and checks every answer)."""

from __future__ import annotations

from typing import Any

import hypothesis
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from starlette.routing import Mount, Route

from supporthub.query.listing import MAX_LIMIT, MAX_VALUE_LENGTH
from supporthub.service import create_app
from supporthub.service._openapi import openapi_document


def test_the_document_is_valid_openapi_3_1(client) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(document).validate()


def test_every_route_is_described_and_every_described_path_is_served(client) -> None:
    document = client.get("/openapi.json").json()
    described = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served: set[tuple[str, str]] = set()
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Route):
            served |= {(route.path, m) for m in route.methods or () if m != "HEAD"}
        elif isinstance(route, Mount):
            for name in ("app.js", "app.css"):
                served.add((f"{route.path}/{name}", "GET"))
    assert described == served


def test_parameter_constraints_are_the_librarys(client) -> None:
    parameters = client.get("/openapi.json").json()["components"]["parameters"]
    assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
    for name in ("provider", "errorCode"):
        assert parameters[name]["schema"]["items"]["maxLength"] == MAX_VALUE_LENGTH
    assert parameters["status"]["schema"]["items"]["enum"] == ["open", "closed"]
    assert parameters["casesLimit"]["schema"]["minimum"] == 0


def test_error_answers_are_described(client) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/search"]["get"]["responses"]) == {"200", "400", "401", "503"}
    assert set(paths["/aggregated-cases/{id}"]["get"]["responses"]) >= {"404"}
    refresh = paths["/refresh"]["post"]["responses"]
    assert set(refresh) >= {"200", "401", "409", "429", "503"}
    assert "Retry-After" in refresh["429"]["headers"]
    assert set(paths["/health"]["get"]["responses"]) == {"200", "503"}
    for path, method in [
        ("/overrides", "post"),
        ("/overrides/{id}", "delete"),
        ("/rules/apply", "post"),
        ("/suggestions/{id}/accept", "post"),
    ]:
        assert set(paths[path][method]["responses"]) >= {"200", "400", "401", "404"}, path
    assert "404" in paths["/aggregated-cases/{id}/explain"]["get"]["responses"]
    search = [p["$ref"].rsplit("/", 1)[1] for p in paths["/search"]["get"]["parameters"]]
    assert "lifecycle" in search


# Loaded from the document itself, not through the app: the requests go to
# each test's own app (below). Valid and invalid inputs both: a bad one must
# get a 4xx answer in the document's shape, never a 5xx.
schema = schemathesis.openapi.from_dict(openapi_document())
schema.config.generation.update(
    modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE], max_examples=40
)


@schema.parametrize()
@hypothesis.settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)
def test_no_answer_breaks_the_document(case: Any, seeded_hub: Any) -> None:
    """On both databases: a value one of them stores or compares differently must not 5xx."""
    app = create_app(seeded_hub, scheduler=False)
    case.operation.schema.app = app  # picks the ASGI transport
    case.call_and_validate(
        app=app,
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )


def test_linked_operations_keep_to_the_document(seeded_hub: Any) -> None:
    """Stateful: schemathesis follows the document's links (an aggregated case id from a
    listing, an override id from its creation, a reply id from its acceptance) through
    sequences of calls; no answer may break the document or be a 5xx."""
    linked = schemathesis.openapi.from_dict(openapi_document())
    linked.app = create_app(seeded_hub, scheduler=False)
    linked.config.generation.update(modes=[GenerationMode.POSITIVE])
    # Cursors are opaque: a generated one is rightly refused, not "valid data rejected".
    linked.config.checks.update(excluded_check_names=["positive_data_acceptance"])
    machine = linked.as_state_machine()
    machine.run(
        settings=hypothesis.settings(
            max_examples=15,
            stateful_step_count=5,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
    )

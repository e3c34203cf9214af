"""Where the served document and the endpoints disagreed (issue 12, found by fuzzing).

Each answer here is also checked against ``/openapi.json`` with schemathesis's
own response validation, so the document and the endpoint must agree.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from starlette.testclient import TestClient

from supporthub.service import create_app
from supporthub.service._openapi import openapi_document

DOCUMENT = schemathesis.openapi.from_dict(openapi_document())
DECISION = {"by": "ops", "reason": "the same company"}


@pytest.fixture
def steering(make_hub: Any, fake_crm: Any) -> Iterator[TestClient]:
    """A hub with one alias suggestion (a rarer spelling of Acme Payments)."""
    fake_crm.put("1", provider="Acme Payments", error_code="1042")
    fake_crm.put("2", provider="ACME PAYMENTS", error_code="1042")
    fake_crm.put("3", provider="Acme Paymnts", error_code="1042")
    fake_crm.put("4", provider="Globex", error_code="7")
    hub = make_hub()
    assert hub.refresh(force=True).ok
    with TestClient(create_app(hub, scheduler=False)) as client:
        yield client


def state(client: TestClient) -> tuple[Any, Any]:
    overrides = client.get("/overrides", params={"all": "true"}).json()
    return overrides, client.get("/get-all").json()["aggregatedCases"]


def alias_suggestion(client: TestClient) -> str:
    (alias,) = client.get("/suggestions").json()["aliases"]
    suggestion_id: str = alias["id"]
    return suggestion_id


def test_a_null_dry_run_is_400_and_changes_nothing(steering: TestClient) -> None:
    before = state(steering)
    made = steering.post(
        "/overrides",
        json={
            "kind": "alias",
            "spelling": "Globex",
            "provider": "Acme",
            **DECISION,
            "dryRun": None,
        },
    )
    accepted = steering.post(
        f"/suggestions/{alias_suggestion(steering)}/accept", json={**DECISION, "dryRun": None}
    )
    for answer in (made, accepted):
        assert answer.status_code == 400
        assert answer.json() == {"error": "'dryRun' must not be null; leave it out instead"}
    assert state(steering) == before


@pytest.mark.parametrize("field", ["by", "reason", "kind", "spelling", "provider"])
def test_no_body_field_takes_null(steering: TestClient, field: str) -> None:
    body = {"kind": "alias", "spelling": "Globex", "provider": "Acme", **DECISION}
    before = state(steering)
    answer = steering.post("/overrides", json={**body, field: None})
    assert answer.status_code == 400, answer.text
    assert state(steering) == before


def test_dry_run_and_applied_answers_agree_with_the_document(steering: TestClient) -> None:
    body = {"kind": "alias", "spelling": "Globex", "provider": "Acme", **DECISION}
    dry = steering.post("/overrides", json={**body, "dryRun": True})
    applied = steering.post("/overrides", json=body)
    assert dry.json()["overrides"][0]["id"] is None  # nothing stored: no id
    assert isinstance(applied.json()["overrides"][0]["id"], int)
    operation = DOCUMENT["/overrides"]["POST"]
    for answer in (dry, applied):
        assert answer.status_code == 200
        operation.validate_response(answer)
    undo = steering.delete(
        f"/overrides/{applied.json()['overrides'][0]['id']}", params={"by": "ops", "dryRun": "true"}
    )
    DOCUMENT["/overrides/{id}"]["DELETE"].validate_response(undo)
    accept = steering.post(
        f"/suggestions/{alias_suggestion(steering)}/accept", json={**DECISION, "dryRun": True}
    )
    DOCUMENT["/suggestions/{id}/accept"]["POST"].validate_response(accept)
    listing = steering.get("/overrides")
    DOCUMENT["/overrides"]["GET"].validate_response(listing)
    # Stored overrides always have an id: the listing promises a plain integer.
    schemas = openapi_document()["components"]["schemas"]
    assert schemas["Override"]["properties"]["id"] == {"type": "integer"}


def _served_path(path: str) -> str:
    return path.replace("{id}", "1")


@pytest.mark.parametrize("path", sorted(openapi_document()["paths"]))
def test_every_405_names_every_method_the_path_serves(client: TestClient, path: str) -> None:
    described = {method.upper() for method in openapi_document()["paths"][path]}
    answer = client.request("TRACE", _served_path(path))
    assert answer.status_code == 405
    expected = described | ({"HEAD"} if "GET" in described else set())
    assert set(answer.headers["allow"].split(", ")) == expected, answer.headers


def test_a_405_on_overrides_allows_post(client: TestClient) -> None:
    answer = client.delete("/overrides")
    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, HEAD, POST"


def _field_schema(kind: str, field: str) -> dict[str, Any]:
    for variant in openapi_document()["components"]["schemas"]["NewOverride"]["oneOf"]:
        if variant["properties"]["kind"]["const"] == kind:
            schema: dict[str, Any] = variant["properties"][field]
            return schema
    raise AssertionError(kind)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "merge", "from": "x", "into": "y"}, "from"),
        ({"kind": "merge", "from": "x", "into": "y"}, "into"),
        ({"kind": "move", "source": "fake", "caseId": "1"}, "source"),
        ({"kind": "move", "source": "fake", "caseId": "1"}, "caseId"),
        ({"kind": "move", "source": "fake", "caseId": "1", "into": "y"}, "into"),
        ({"kind": "alias", "spelling": "Globex", "provider": "Acme"}, "spelling"),
        ({"kind": "alias", "spelling": "Globex", "provider": "Acme"}, "provider"),
        ({"kind": "alias", "spelling": "Globex", "provider": "Acme"}, "by"),
        ({"kind": "alias", "spelling": "Globex", "provider": "Acme"}, "reason"),
    ],
)
def test_an_empty_string_is_outside_the_document_and_a_400(
    steering: TestClient, body: dict[str, str], field: str
) -> None:
    assert _field_schema(body["kind"], field)["minLength"] == 1
    before = state(steering)
    answer = steering.post("/overrides", json={**DECISION, **body, field: ""})
    assert answer.status_code == 400
    assert answer.json() == {"error": f"{field!r} must not be empty"}
    assert state(steering) == before


def test_path_ids_and_cursors_are_documented_non_empty() -> None:
    document = openapi_document()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    assert parameter["schema"].get("minLength", 0) >= 1 or (
                        "pattern" in parameter["schema"]
                    ), path
    assert document["components"]["parameters"]["cursor"]["schema"]["minLength"] == 1

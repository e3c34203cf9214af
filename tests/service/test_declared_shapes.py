"""The document's shapes come from the declarations (issue 12, part 2).

Answers: from the attrs classes and the converter's ``SENT``, so ``required``
is exactly what is always sent and enums follow their types. Bodies: from
the attrs classes that also check them, so the document and the ``400``s
agree. Every JSON answer of the service tests is checked against the
document (``document_check.py``); the tests here show that the check bites.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs
import httpx
import pytest

import supporthub.vocabulary.replies
from supporthub.serialize import to_json_dict
from supporthub.service._bodies import OVERRIDE_BODIES, Decision, StopReply, checked_body
from supporthub.service._openapi import openapi_document
from supporthub.service._schemas import request_fields, request_schema, response_schema
from supporthub.vocabulary.replies import ReplyPreview, ReplyRequest
from supporthub.vocabulary.work import Lifecycle, WorkChange, WorkState

from .document_check import DocumentMismatch, check_answer

SCHEMAS = openapi_document()["components"]["schemas"]


def test_required_is_exactly_what_every_answer_sends(client, seeded_hub) -> None:
    listing = client.get("/get-all").json()
    assert set(listing) == set(SCHEMAS["Listing"]["required"])
    for aggregated in listing["aggregatedCases"]:
        assert set(aggregated) == set(SCHEMAS["AggregatedCase"]["required"])
        for case in aggregated["cases"]:
            assert set(case) == set(SCHEMAS["Case"]["required"])
    health = client.get("/health").json()
    assert set(health) == set(SCHEMAS["Health"]["required"])
    for source in health["sources"].values():
        assert set(source) == set(SCHEMAS["SourceHealth"]["required"])
    report = to_json_dict(seeded_hub.refresh(force=True))
    assert set(report) == set(SCHEMAS["RefreshReport"]["required"])
    for source in report["sources"].values():
        # error and durationSeconds are sent only when they have a value.
        assert set(SCHEMAS["SourceReport"]["required"]) <= set(source)
        assert set(source) <= set(SCHEMAS["SourceReport"]["properties"])


def _answer(path: str, body: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json=body, request=httpx.Request("GET", path))


def test_an_answer_missing_a_field_fails_the_document_check(client) -> None:
    listing = client.get("/get-all").json()
    check_answer("GET", "/get-all", _answer("/get-all", listing))
    for field in ("providerKey", "rulesVersion", "lifecycle"):
        broken = {**listing, "aggregatedCases": [dict(listing["aggregatedCases"][0])]}
        del broken["aggregatedCases"][0][field]
        with pytest.raises(DocumentMismatch, match=field):
            check_answer("GET", "/get-all", _answer("/get-all", broken))
    broken = dict(client.get("/health").json())
    broken["sources"] = {
        name: {key: value for key, value in source.items() if key != "refreshableAt"}
        for name, source in broken["sources"].items()
    }
    with pytest.raises(DocumentMismatch, match="refreshableAt"):
        check_answer("GET", "/health", _answer("/health", broken))


def test_a_wrong_type_or_an_undescribed_status_fails_the_document_check(client) -> None:
    health = client.get("/health").json()
    with pytest.raises(DocumentMismatch):
        check_answer("GET", "/health", _answer("/health", {**health, "refreshing": "no"}))
    with pytest.raises(DocumentMismatch, match="418"):
        check_answer("GET", "/health", _answer("/health", health, status=418))


def test_enums_follow_their_types() -> None:
    aggregated = SCHEMAS["AggregatedCase"]["properties"]
    assert aggregated["state"]["enum"] == [state.value for state in WorkState]
    assert aggregated["lifecycle"]["enum"] == [*(value.value for value in Lifecycle), None]
    assert SCHEMAS["WorkChange"]["properties"]["state"]["enum"] == list(WorkState)


def test_a_value_added_to_a_literal_appears_in_the_document(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = response_schema(ReplyPreview, set())["properties"]["scope"]["enum"]
    assert before == ["open", "all"] == SCHEMAS["ReplyPreview"]["properties"]["scope"]["enum"]
    monkeypatch.setattr(supporthub.vocabulary.replies, "ReplyScope", Literal["open", "all", "mine"])
    after = response_schema(ReplyPreview, set())["properties"]["scope"]["enum"]
    assert after == ["open", "all", "mine"]
    assert request_schema(ReplyRequest)["properties"]["scope"]["enum"] == after


def test_descriptions_come_from_the_docstrings() -> None:
    assert SCHEMAS["Case"]["properties"]["url"]["description"] == "Where the case opens in its CRM."
    assert SCHEMAS["Reply"]["properties"]["autoReplyActive"]["description"].startswith("New open")
    assert SCHEMAS["NewReply"]["properties"]["by"]["description"] == "Who replies."


BODIES = [*OVERRIDE_BODIES.values(), Decision, StopReply]


@pytest.mark.parametrize("body", BODIES, ids=lambda body: body.__name__)
def test_a_body_schema_and_its_check_agree(body: type[Any]) -> None:
    """Every required field is refused when missing, every bound when crossed, in words."""
    schema = request_schema(body)
    assert schema["additionalProperties"] is False
    good = {
        name: True if prop["type"] == "boolean" else prop.get("const", "x")
        for name, prop in schema["properties"].items()
    }
    assert isinstance(checked_body(body, good, "it"), body)
    with pytest.raises(Exception, match="unknown: colour"):
        checked_body(body, {**good, "colour": "red"}, "it")
    for name in schema["required"]:
        missing = {key: value for key, value in good.items() if key != name}
        with pytest.raises(Exception, match=f"needs '{name}'"):
            checked_body(body, missing, "it")
    for name, prop in schema["properties"].items():
        with pytest.raises(Exception, match=f"'{name}' must not be null"):
            checked_body(body, {**good, name: None}, "it")
        if prop.get("minLength") == 1:
            with pytest.raises(Exception, match=f"'{name}' must not be empty"):
                checked_body(body, {**good, name: ""}, "it")
        if "maxLength" in prop:
            too_long = "x" * (prop["maxLength"] + 1)
            with pytest.raises(Exception, match=f"longer than {prop['maxLength']}"):
                checked_body(body, {**good, name: too_long}, "it")
            checked_body(body, {**good, name: "x" * prop["maxLength"]}, "it")


@pytest.mark.parametrize(
    ("cls", "schema"), [(WorkChange, "WorkChange"), (ReplyRequest, "NewReply")]
)
def test_the_library_declares_the_work_and_reply_bodies(cls: type[Any], schema: str) -> None:
    described = SCHEMAS[schema]
    assert list(described["properties"]) == [name for name, _, _ in request_fields(cls)]
    required = [name for name, field, _ in request_fields(cls) if field.default is attrs.NOTHING]
    assert described["required"] == required

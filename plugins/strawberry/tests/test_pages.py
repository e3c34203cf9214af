"""Export pages of the wrong shape, which the simulator never sends: a mocked transport."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from supporthub_strawberry.adapter import StrawberryAdapter

from supporthub import HttpClient, MalformedPage, RetryPolicy, SourceConfig

FIELDS = {"ticket_fields": [{"id": 1, "key": "provider"}, {"id": 2, "key": "error_code"}]}
TICKET = {
    "id": 7,
    "subject": None,
    "description": None,
    "status": "open",
    "priority": None,
    "created_at": "2026-11-20T09:58:31Z",
    "updated_at": "2026-11-20T10:02:11Z",
    "custom_fields": [],
    "tags": [],
    "requester": None,
}


def sync(*pages: Any) -> list[Any]:
    """Sync against a CRM that answers the field list, then ``pages`` in turn."""
    answers = list(pages)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["X-Api-Key"] == "k3y-for-tests"
        if request.url.path.endswith("/v1/ticket_fields"):
            return httpx.Response(200, json=FIELDS)
        return httpx.Response(200, json=answers.pop(0))

    config = SourceConfig("strawberry", {"url": "https://crm.example", "api_key": "k3y-for-tests"})
    transport = httpx.MockTransport(handler)
    with HttpClient(
        "https://crm.example", title="Strawberry", policy=RetryPolicy(), transport=transport
    ) as http:
        return list(StrawberryAdapter(config, http).fetch(None))


@pytest.mark.parametrize(
    ("page", "words"),
    [
        ([], "without tickets and meta"),
        ({"tickets": [TICKET]}, "without tickets and meta"),
        ({"tickets": {}, "meta": {"has_more": False}}, "without tickets and meta"),
        ({"tickets": [TICKET], "meta": {"has_more": "no"}}, "without a has_more flag"),
        ({"tickets": [TICKET], "meta": {"has_more": True}}, "has_more but no after_cursor"),
        ({"tickets": [], "meta": {"has_more": True, "after_cursor": ""}}, "no after_cursor"),
    ],
)
def test_a_page_of_the_wrong_shape_fails_the_source(page: Any, words: str) -> None:
    with pytest.raises(MalformedPage, match=words):
        sync(page)


def test_an_export_whose_cursor_never_moves_is_stopped() -> None:
    stuck = {"tickets": [], "meta": {"has_more": True, "after_cursor": "c1"}}
    with pytest.raises(MalformedPage, match="would never end"):
        sync({"tickets": [TICKET], "meta": {"has_more": True, "after_cursor": "c1"}}, stuck)


def test_an_empty_page_with_a_new_cursor_is_followed() -> None:
    batches = sync(
        {"tickets": [], "meta": {"has_more": True, "after_cursor": "c1"}},
        {"tickets": [TICKET], "meta": {"has_more": False, "after_cursor": "c2"}},
    )
    assert [len(b.cases) for b in batches] == [0, 1]
    assert [b.cursor for b in batches] == [None, "1795168931"]

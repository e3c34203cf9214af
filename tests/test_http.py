"""The shared HTTP plumbing: retries, Retry-After, error classes, JSON."""

from __future__ import annotations

import time

import httpx
import pytest

from supporthub import HttpClient, MalformedPage, RetryPolicy, SourceRejected, SourceUnavailable

FAST = RetryPolicy(timeout=2, attempts=5, wait_initial=0.001, wait_jitter=0, max_wait=0.05)


def client(
    handler, policy: RetryPolicy = FAST, base: str = "https://crm.example/tenant"
) -> HttpClient:
    return HttpClient(base, title="Banana", policy=policy, transport=httpx.MockTransport(handler))


def scripted(*answers):
    """A handler answering from a script, recording the requests."""
    seen: list[httpx.Request] = []
    script = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return handler, seen


def test_relative_paths_keep_the_base_path() -> None:
    handler, seen = scripted(httpx.Response(200, json={"ok": True}))
    with client(handler) as http:
        assert http.get_json("/api/v2/cases/next/abc") == {"ok": True}
    assert str(seen[0].url) == "https://crm.example/tenant/api/v2/cases/next/abc"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_transient_statuses_are_retried(status: int) -> None:
    handler, seen = scripted(
        httpx.Response(status), httpx.Response(status), httpx.Response(200, json=[1])
    )
    with client(handler) as http:
        assert http.get_json("/x") == [1]
    assert len(seen) == 3


def test_connection_errors_are_retried_then_fail_in_words() -> None:
    handler, seen = scripted(httpx.ConnectError("connection refused"))
    with (
        client(handler) as http,
        pytest.raises(SourceUnavailable, match="Banana could not be reached after 5 attempts"),
    ):
        http.get_json("/x")
    assert len(seen) == 5


def test_persistent_503_fails_in_words() -> None:
    handler, seen = scripted(httpx.Response(503))
    with (
        client(handler) as http,
        pytest.raises(SourceUnavailable, match="Banana answered 503 5 times"),
    ):
        http.get_json("/x")
    assert len(seen) == 5


def test_retry_after_is_honoured_and_capped() -> None:
    policy = RetryPolicy(timeout=2, attempts=3, wait_initial=0.001, wait_jitter=0, max_wait=0.3)
    handler, seen = scripted(
        httpx.Response(429, headers={"Retry-After": "0.2"}),
        httpx.Response(429, headers={"Retry-After": "3600"}),  # capped at max_wait
        httpx.Response(200, json={}),
    )
    started = time.monotonic()
    with client(handler, policy) as http:
        http.get_json("/x")
    elapsed = time.monotonic() - started
    assert len(seen) == 3
    assert 0.45 <= elapsed < 2


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_final_statuses_fail_at_once_with_the_crm_error(status: int) -> None:
    handler, seen = scripted(
        httpx.Response(status, json={"error": "invalid_client", "error_description": "bad secret"})
    )
    with client(handler) as http, pytest.raises(SourceRejected) as rejected:
        http.get_json("/x")
    assert len(seen) == 1
    assert rejected.value.status == status and rejected.value.error == "invalid_client"
    assert f"HTTP {status} invalid_client (bad secret)" in str(rejected.value)


def test_a_body_that_is_not_json_is_a_malformed_page() -> None:
    handler, _ = scripted(httpx.Response(200, content=b"<html>oops"))
    with client(handler) as http, pytest.raises(MalformedPage, match="not JSON"):
        http.get_json("/api/v2/cases")


def test_timeouts_are_transient() -> None:
    handler, seen = scripted(httpx.ReadTimeout("slow"))
    with (
        client(handler) as http,
        pytest.raises(SourceUnavailable, match="did not answer within 2 s, 5 times"),
    ):
        http.get_json("/x")
    assert len(seen) == 5


def test_a_json_body_is_the_same_bytes_on_every_attempt() -> None:
    handler, seen = scripted(
        httpx.ReadTimeout("lost"), httpx.Response(503), httpx.Response(201, json={})
    )
    calls: list[int] = []
    with client(handler) as http:
        answer = http.request(
            "PUT",
            "/v1/tickets/1",
            headers={"Idempotency-Key": "k-1"},
            json={"ticket": {"comment": {"body": "héllo"}}},
            before_attempt=lambda: calls.append(1),
        )
    assert answer.status_code == 201
    assert len(seen) == len(calls) == 3  # the hook ran before every attempt
    assert {r.content for r in seen} == {b'{"ticket":{"comment":{"body":"h\xc3\xa9llo"}}}'}
    assert {r.headers["Idempotency-Key"] for r in seen} == {"k-1"}
    assert {r.headers["Content-Type"] for r in seen} == {"application/json"}


def test_an_outlasting_429_carries_its_retry_after() -> None:
    handler, _ = scripted(httpx.Response(429, headers={"Retry-After": "0.01"}))
    with client(handler) as http, pytest.raises(SourceUnavailable, match="429") as error:
        http.request("PUT", "/x", json={})
    assert error.value.retry_after == pytest.approx(0.01)
    handler, _ = scripted(httpx.Response(503))
    with client(handler) as http, pytest.raises(SourceUnavailable) as error:
        http.request("GET", "/x")
    assert error.value.retry_after is None

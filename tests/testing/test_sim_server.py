"""The simulators' HTTP server, over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from supporthub.testing.sim import LostAnswer, SimRequest, SimResponse, SimServer


class Echo:
    """A handler that answers what it saw, and remembers it."""

    def __init__(self) -> None:
        self.seen: list[SimRequest] = []

    def __call__(self, request: SimRequest) -> SimResponse:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        body = {
            "path": request.path,
            "raw_path": request.raw_path,
            "query": dict(request.query),
            "body": request.body.decode(),
            "x_test": request.header("x-TEST"),
        }
        return SimResponse(200, orjson.dumps(body), headers=(("X-Extra", "1"),), records=3)


@pytest.fixture
def echo() -> Echo:
    return Echo()


@pytest.fixture
def server(echo: Echo) -> Iterator[SimServer]:
    with SimServer(echo, path_prefix="tenant-a/") as running:
        yield running


def test_url_carries_the_normalized_prefix(server: SimServer) -> None:
    assert server.url == f"http://127.0.0.1:{server.port}/tenant-a"
    assert server.port > 0


def test_url_needs_a_started_server(echo: Echo) -> None:
    with pytest.raises(RuntimeError):
        _ = SimServer(echo).url


def test_requests_below_the_prefix_get_the_path_below_it(server: SimServer) -> None:
    answer = httpx.get(
        server.url + "/api/caf%C3%A9",
        params=[("a", "1"), ("a", "2"), ("b", "")],
        headers={"X-Test": "yes"},
    ).json()
    assert answer["path"] == "/api/café"
    assert answer["raw_path"] == "/tenant-a/api/caf%C3%A9"
    assert answer["query"] == {"a": ["1", "2"], "b": [""]}
    assert answer["x_test"] == "yes"


@pytest.mark.parametrize("path", ["/api", "/tenant-ab/api", "/TENANT-A/api"])
def test_requests_outside_the_prefix_get_no_path(server: SimServer, path: str) -> None:
    base = server.url.removesuffix("/tenant-a")
    assert httpx.get(base + path).json()["path"] is None


def test_bodies_and_headers_travel(server: SimServer) -> None:
    response = httpx.post(server.url + "/form", data={"k": "v"})
    assert response.json()["body"] == "k=v"
    assert response.headers["x-extra"] == "1"
    assert response.headers["content-type"] == "application/json"


def test_a_client_keeps_its_connection(server: SimServer, echo: Echo) -> None:
    with httpx.Client() as client:
        for _ in range(5):
            client.get(server.url + "/x").raise_for_status()
    assert len({request.peer_port for request in echo.seen}) == 1


def test_a_handler_bug_is_a_500_not_a_dead_server(server: SimServer) -> None:
    assert httpx.get(server.url + "/boom").status_code == 500
    assert httpx.get(server.url + "/x").status_code == 200


def test_going_down_refuses_new_and_reused_connections(server: SimServer) -> None:
    with httpx.Client() as client:
        client.get(server.url + "/x").raise_for_status()
        server.go_down()
        with pytest.raises(httpx.TransportError):
            client.get(server.url + "/x")
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/x")
        server.go_up()
        assert client.get(server.url + "/x").status_code == 200


def test_stop_closes_everything(echo: Echo) -> None:
    server = SimServer(echo).start()
    url = server.url
    with httpx.Client() as client:
        client.get(url + "/x").raise_for_status()
        server.stop()
        with pytest.raises(httpx.TransportError):
            client.get(url + "/x")
    server.go_up()  # stays down: a stopped server does not come back by itself
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/x")


@pytest.mark.parametrize("how", ["reset", "timeout"])
def test_a_lost_answer_never_reaches_the_client(how: str) -> None:
    handled: list[str] = []

    def handler(request: SimRequest) -> SimResponse:
        handled.append(request.method)
        return SimResponse(201, b"{}", lost=LostAnswer(how, 0.3))  # type: ignore[arg-type]

    with (
        SimServer(handler) as running,
        httpx.Client(timeout=0.1 if how == "timeout" else 5) as client,
    ):
        expected = httpx.TimeoutException if how == "timeout" else httpx.TransportError
        with pytest.raises(expected):
            client.post(running.url + "/x", content=b"{}")
    assert handled == ["POST"]  # the handler ran (the write was applied)

"""Every endpoint, in-process (TestClient runs the lifespan; no signals, no sockets).

The lifecycle itself (signals, warm-up, probes, draining) is fastapi-zdk's and tested in
lib/fastapi-zdk/tests; here: that the sample adopts it right (settings, warm-up, the
database revision in /health, the middleware outermost, the metrics)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from fastapi_app.core.config import Settings
from fastapi_app.main import create_app
from fastapi_zdk import Lifecycle

MakeClient = Callable[..., TestClient]


@pytest.fixture
def make_client(make_settings: Callable[..., Settings]) -> Iterator[MakeClient]:
    clients: list[TestClient] = []

    def make(*, lifecycle_middleware: bool = True, **overrides: Any) -> TestClient:
        app = create_app(make_settings(**overrides), lifecycle_middleware=lifecycle_middleware)
        client = TestClient(app, raise_server_exceptions=False)
        client.__enter__()  # runs the lifespan
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def wait_ready(client: TestClient, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if client.get("/health/ready").status_code == 200:
            return
        time.sleep(0.02)
    pytest.fail("not ready")


def lifecycle_of(client: TestClient) -> Lifecycle:
    lifecycle: Lifecycle = client.app.state.lifecycle  # type: ignore[attr-defined]
    return lifecycle


def test_health(make_client: MakeClient) -> None:
    client = make_client(app_version="0.0.7", app_revision="deadbeef", pod_name="pod-a")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "0.0.7",
        "revision": "deadbeef",
        "pod": "pod-a",
        "db_revision": None,  # not migrated
    }


def test_health_reports_the_alembic_revision(
    make_client: MakeClient, migrate: Callable[..., None], sqlite_url: str
) -> None:
    migrate(sqlite_url, "0002")
    assert make_client().get("/health").json()["db_revision"] == "0002"


def test_health_db_unreachable_is_null(make_client: MakeClient) -> None:
    client = make_client(database_url="sqlite:////proc/no-such-dir/app.db")
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json()["db_revision"] is None


def test_live(make_client: MakeClient) -> None:
    response = make_client(app_warmup_seconds=60).get("/health/live")
    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


def test_ready_503_until_warm(make_client: MakeClient) -> None:
    client = make_client(app_warmup_seconds=60)
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert response.json() == {"status": "starting"}
    assert client.get("/endpoint").status_code == 200  # serving already, just not ready


def test_ready_200_then_503_when_draining(make_client: MakeClient) -> None:
    client = make_client()
    wait_ready(client)
    ready = client.get("/health/ready")
    assert ready.json() == {"status": "ready"}
    assert "connection" not in ready.headers
    assert lifecycle_of(client).start_draining("test")
    draining = client.get("/health/ready")
    assert draining.status_code == 503
    assert draining.json() == {"status": "draining"}
    assert draining.headers["connection"] == "close"
    assert not lifecycle_of(client).start_draining("again")  # idempotent


@pytest.mark.parametrize("path", ["/endpoint", "/health", "/health/live", "/metrics", "/nope"])
def test_every_response_closes_while_draining(make_client: MakeClient, path: str) -> None:
    client = make_client()
    assert "connection" not in client.get(path).headers
    lifecycle_of(client).start_draining("test")
    assert client.get(path).headers["connection"] == "close"


def test_without_lifecycle_plain_health_and_no_close(make_client: MakeClient) -> None:
    client = make_client(lifecycle_middleware=False, app_version="0.0.7", pod_name="pod-a")
    assert not hasattr(client.app.state, "lifecycle")  # type: ignore[attr-defined]
    ready = client.get("/health/ready")
    assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
    assert client.get("/health/live").json() == {"status": "alive"}
    assert client.get("/health").json() == {
        "status": "ok", "version": "0.0.7", "revision": "unknown", "pod": "pod-a",
        "db_revision": None,
    }  # fmt: skip
    assert "connection" not in client.get("/endpoint").headers
    metrics = client.get("/metrics").text
    assert 'app_info{revision="unknown",version="0.0.7"} 1.0' in metrics
    assert "http_requests_total" not in metrics  # nothing counts requests without it


def test_lifecycle_settings_from_the_apps_settings(make_client: MakeClient) -> None:
    client = make_client(app_version="0.0.7", app_revision="deadbeef", pod_name="pod-a",
                         app_warmup_seconds=3, app_drain_seconds=4)  # fmt: skip
    settings = lifecycle_of(client).settings
    assert (settings.version, settings.revision, settings.pod) == ("0.0.7", "deadbeef", "pod-a")
    assert (settings.warmup_seconds, settings.drain_seconds) == (3, 4)


def test_ready_although_the_database_is_unreachable(make_client: MakeClient) -> None:
    """The warm-up pings the database, but readiness does not depend on it."""
    wait_ready(make_client(database_url="sqlite:////proc/no-such-dir/app.db"))


def test_endpoint_greeting(make_client: MakeClient) -> None:
    assert make_client().get("/endpoint").json() == {"Hello": "World"}
    assert make_client(app_greeting="Universe").get("/endpoint").json() == {"Hello": "Universe"}


def test_slow_within_bound(make_client: MakeClient) -> None:
    client = make_client(app_slow_max_seconds=1)
    started = time.monotonic()
    response = client.get("/slow", params={"seconds": 0.2})
    assert response.status_code == 200
    assert response.json() == {"slept": 0.2}
    assert time.monotonic() - started >= 0.2
    assert client.get("/slow", params={"seconds": 1}).status_code == 200  # the bound itself


def test_slow_over_bound_is_422(make_client: MakeClient) -> None:
    response = make_client(app_slow_max_seconds=2).get("/slow", params={"seconds": 2.5})
    assert response.status_code == 422
    assert response.json() == {
        "detail": "seconds=2.5 is over the bound of 2 (APP_SLOW_MAX_SECONDS)"
    }


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "inf", ""])
def test_slow_bad_input_is_422(make_client: MakeClient, value: str) -> None:
    assert make_client().get("/slow", params={"seconds": value}).status_code == 422


def test_slow_needs_seconds(make_client: MakeClient) -> None:
    assert make_client().get("/slow").status_code == 422


def test_metrics(make_client: MakeClient) -> None:
    client = make_client()
    client.get("/endpoint")
    client.get("/nope")
    body = client.get("/metrics").text
    assert 'http_requests_total{status="200"} 1.0' in body
    assert 'http_requests_total{status="404"} 1.0' in body
    assert "http_requests_in_flight 1.0" in body  # the /metrics request itself
    assert "app_draining 0.0" in body
    assert 'app_info{revision="unknown",version="0.0.1"} 1.0' in body
    lifecycle_of(client).start_draining("test")
    assert "app_draining 1.0" in client.get("/metrics").text


def test_unhandled_error_counted_and_closed_while_draining(make_client: MakeClient) -> None:
    client = make_client()

    @client.app.get("/boom")  # type: ignore[attr-defined, untyped-decorator]
    async def boom() -> None:
        raise RuntimeError("boom")

    lifecycle_of(client).start_draining("test")
    response = client.get("/boom")
    assert response.status_code == 500
    assert response.headers["connection"] == "close"
    assert lifecycle_of(client).in_flight == 0
    assert 'http_requests_total{status="500"} 1.0' in client.get("/metrics").text


def test_items(make_client: MakeClient, migrate: Callable[..., None], sqlite_url: str) -> None:
    migrate(sqlite_url)
    client = make_client()
    created = client.post("/items", json={"name": "first", "description": "one"})
    assert created.status_code == 201
    item = created.json()
    assert item["name"] == "first"
    assert item["description"] == "one"
    assert client.post("/items", json={"name": "second"}).json()["description"] is None
    assert client.get(f"/items/{item['id']}").json() == item
    listed = client.get("/items").json()
    assert [i["name"] for i in listed] == ["second", "first"]
    assert [i["name"] for i in client.get("/items", params={"name": "first"}).json()] == ["first"]
    assert client.get("/items", params={"limit": 1}).json()[0]["name"] == "second"
    assert client.get("/health").json()["db_revision"] == "0003"


def test_items_not_found_and_bad_input(
    make_client: MakeClient, migrate: Callable[..., None], sqlite_url: str
) -> None:
    migrate(sqlite_url)
    client = make_client()
    assert client.get("/items/999").status_code == 404
    assert client.get("/items/abc").status_code == 422
    assert client.post("/items", json={"name": ""}).status_code == 422
    assert client.post("/items", json={"name": "x" * 201}).status_code == 422
    assert client.post("/items", json={}).status_code == 422
    assert client.get("/items", params={"limit": 0}).status_code == 422
    assert client.get("/items", params={"limit": 101}).status_code == 422


def test_items_without_schema_is_503(make_client: MakeClient) -> None:
    response = make_client().get("/items")
    assert response.status_code == 503
    assert "alembic upgrade head" in response.json()["detail"]


def test_openapi_lists_the_routes(make_client: MakeClient) -> None:
    paths = make_client().get("/openapi.json").json()["paths"]
    for path in ("/endpoint", "/slow", "/metrics", "/items"):
        assert path in paths
    assert "/health/ready" not in paths  # fastapi-zdk serves the probes before the app
    plain = make_client(lifecycle_middleware=False).get("/openapi.json").json()["paths"]
    assert {"/health", "/health/live", "/health/ready"} <= set(plain)

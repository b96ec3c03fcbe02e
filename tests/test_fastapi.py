"""A real framework on top: FastAPI (found through $VIRTUAL_ENV)."""

from __future__ import annotations

import pytest
import requests
from conftest import Server, ServerFactory


@pytest.fixture(scope="module")
def server(module_servers: ServerFactory) -> Server:
    return module_servers("fastapi_app:app")


def test_path_and_query_params(server: Server) -> None:
    response = requests.get(server.url("/items/42?q=hello"), timeout=15)
    assert response.status_code == 200
    assert response.json() == {"item_id": 42, "q": "hello"}


def test_optional_query_param(server: Server) -> None:
    assert requests.get(server.url("/items/7"), timeout=15).json() == {
        "item_id": 7,
        "q": None,
    }


def test_bad_path_param_is_422(server: Server) -> None:
    response = requests.get(server.url("/items/not-a-number"), timeout=15)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "item_id"]


def test_json_body(server: Server) -> None:
    response = requests.post(
        server.url("/items"),
        json={"name": "pen", "price": 1.5, "tags": ["a"]},
        timeout=15,
    )
    assert response.status_code == 200
    assert response.json() == {
        "name": "pen",
        "price": 1.5,
        "tags": ["a"],
        "doubled": 3.0,
    }


def test_invalid_json_body_is_422(server: Server) -> None:
    response = requests.post(server.url("/items"), json={"name": "pen"}, timeout=15)
    assert response.status_code == 422
    locations = [error["loc"] for error in response.json()["detail"]]
    assert ["body", "price"] in locations


def test_malformed_json_is_422(server: Server) -> None:
    response = requests.post(
        server.url("/items"),
        data=b"{not json",
        headers={"content-type": "application/json"},
        timeout=15,
    )
    assert response.status_code == 422


def test_unknown_route_is_404(server: Server) -> None:
    response = requests.get(server.url("/nope"), timeout=15)
    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}


def test_wrong_method_is_405(server: Server) -> None:
    assert requests.delete(server.url("/items/1"), timeout=15).status_code == 405


def test_lifespan_state(server: Server) -> None:
    response = requests.get(server.url("/state"), timeout=15)
    assert response.status_code == 200
    assert response.json() == {"db": "connected", "root_path": ""}


def test_streaming_response(server: Server) -> None:
    response = requests.get(server.url("/stream"), timeout=15)
    assert response.status_code == 200
    assert response.text == "".join(f"line {n}\n" for n in range(5))


def test_openapi_schema(server: Server) -> None:
    response = requests.get(server.url("/openapi.json"), timeout=15)
    assert response.status_code == 200
    assert "/items/{item_id}" in response.json()["paths"]


def test_root_path_with_fastapi(start_server: ServerFactory) -> None:
    server = start_server("fastapi_app:app", "--root-path", "/api")
    response = requests.get(server.url("/items/3?q=x"), timeout=15)
    assert response.status_code == 200
    assert response.json() == {"item_id": 3, "q": "x"}
    assert requests.get(server.url("/state"), timeout=15).json()["root_path"] == "/api"

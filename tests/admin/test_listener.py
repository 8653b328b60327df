"""The admin application in process (no backend started): its routes behind the guards, and
the spot where the Prometheus ``/metrics`` app is served."""

from __future__ import annotations

from starlette.testclient import TestClient

from only1mcp.admin.listener import AdminService
from only1mcp.audit import AuditLog
from only1mcp.config import Config
from only1mcp.gateway import Gateway
from only1mcp.router import Router
from only1mcp.types import Receive, Scope, Send


async def scrape(scope: Scope, receive: Receive, send: Send) -> None:
    body = b"# metrics\nup 1\n"
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def service(**admin: object) -> AdminService:
    config = Config.model_validate({"servers": {"a": {"command": "x"}}, "admin": admin})
    gateway = Gateway(config)
    return AdminService(config, gateway, Router(gateway), None, AuditLog(config.audit), scrape)


def test_metrics_are_served_behind_the_same_guards() -> None:
    with TestClient(service().asgi, base_url="http://127.0.0.1:8766") as client:
        assert client.get("/metrics").text == "# metrics\nup 1\n"
        refused = client.get("/metrics", headers={"origin": "https://evil.example"})
        assert refused.status_code == 403


def test_the_page_loads_only_its_own_script_and_style() -> None:
    with TestClient(service().asgi, base_url="http://127.0.0.1:8766") as client:
        page = client.get("/")
        assert page.status_code == 200
        assert "default-src 'self'" in page.headers["content-security-policy"]
        assert '<tr data-server="a">' in page.text  # rendered on the server
        assert (
            client.get("/static/dashboard.js").headers["content-type"].startswith("text/javascript")
        )
        assert client.get("/static/../app.py").status_code == 404
        assert client.get("/static/nope.js").status_code == 404


def test_unknown_routes_and_methods_answer_json() -> None:
    with TestClient(service().asgi, base_url="http://127.0.0.1:8766") as client:
        missing = client.get("/api/servers/a%2Fb")
        assert (missing.status_code, missing.json()) == (404, {"error": "Not Found"})
        wrong = client.delete("/api/servers")
        assert wrong.status_code == 405 and "GET" in wrong.headers["allow"]
        assert wrong.json() == {"error": "Method Not Allowed"}

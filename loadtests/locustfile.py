"""Locust users for Only1MCP: each opens its own MCP session and runs a realistic mix.

Behaviour and latency under mixed load (many sessions, several methods) rather than raw rate:
locust spends ~100+ us of Python per request, so on 2 cores it tops out far below the 20k/s the
wrk runs measure (docs/PERFORMANCE.md has what it reaches here).

    locust -f loadtests/locustfile.py --headless -u 32 -r 32 -t 30s --host http://127.0.0.1:8765

Environment:
  LOCUST_PATH  endpoint path (default /mcp)
  LOCUST_MIX   "mix" (default) or "call" (tools/call only: the generator's top rate)
  LOCUST_TOOL  tool to call (default: the first tool that tools/list returns)
  LOCUST_WAIT  seconds between a user's requests (default 0: as fast as it can)

The mix per user: tools/call 6, tools/list 2, ping 1, and — only when the server's initialize
result announces the capability and the list is not empty — resources/read 2 and prompts/get 1.
A response counts as a failure unless it is HTTP 200 with a JSON-RPC result (and no tool error).
"""

from __future__ import annotations

import itertools
import os
import random
from collections.abc import Callable
from typing import Any

from locust import FastHttpUser, constant, task

try:
    import orjson

    dumps, loads, DecodeError = orjson.dumps, orjson.loads, orjson.JSONDecodeError
except ImportError:  # locust's own venv need not have orjson
    import json

    def dumps(obj: Any) -> bytes:
        return json.dumps(obj, separators=(",", ":")).encode()

    loads, DecodeError = json.loads, json.JSONDecodeError  # type: ignore[assignment]

PATH = os.environ.get("LOCUST_PATH", "/mcp")
MIX = os.environ.get("LOCUST_MIX", "mix")
TOOL = os.environ.get("LOCUST_TOOL", "")
PROTOCOL = "2025-11-25"
ARGUMENTS = {"text": "hello", "n": 42}


class McpUser(FastHttpUser):
    wait_time = constant(float(os.environ.get("LOCUST_WAIT", "0")))

    def on_start(self) -> None:
        self.ids = itertools.count(1)
        self.headers = {
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
        }
        self.session_id = ""
        init = self._post(
            "initialize",
            {
                "protocolVersion": PROTOCOL,
                "capabilities": {},
                "clientInfo": {"name": "locust", "version": "1.0"},
            },
        )
        if init is None:
            self.plan: list[Callable[[], Any]] = []
            return
        self.headers["mcp-protocol-version"] = init.get("protocolVersion", PROTOCOL)
        self._notify("notifications/initialized")
        caps: dict[str, Any] = init.get("capabilities") or {}
        tools = (self._post("tools/list") or {}).get("tools") or []
        self.tool = TOOL or (tools[0]["name"] if tools else "")
        if MIX == "call":
            self.plan = [self.call_tool]
            return
        self.plan = [self.call_tool] * 6 + [self.list_tools] * 2 + [self.ping]
        # Resources and prompts this client can use: listed, and answered once when tried
        # (a prompt that needs elicitation, which this client does not offer, is left out).
        if "resources" in caps:
            resources = (self._post("resources/list") or {}).get("resources") or []
            uris = [r["uri"] for r in resources if isinstance(r, dict) and "uri" in r]
            self.uris = [u for u in uris if self._post("resources/read", {"uri": u}, probe=True)]
            if self.uris:
                self.plan += [self.read_resource] * 2
        if "prompts" in caps:
            prompts = (self._post("prompts/list") or {}).get("prompts") or []
            named = [p for p in prompts if isinstance(p, dict) and "name" in p]
            self.prompts = [p for p in named if self._post("prompts/get", _prompt(p), probe=True)]
            if self.prompts:
                self.plan += [self.get_prompt]

    def on_stop(self) -> None:
        if self.session_id:
            self.client.request(
                "DELETE", PATH, headers=self.headers, name="DELETE session", catch_response=False
            )

    @task
    def step(self) -> None:
        if self.plan:
            random.choice(self.plan)()

    # ------------------------------------------------------------------------ methods

    def call_tool(self) -> None:
        self._post("tools/call", {"name": self.tool, "arguments": ARGUMENTS})

    def list_tools(self) -> None:
        self._post("tools/list")

    def ping(self) -> None:
        self._post("ping")

    def read_resource(self) -> None:
        self._post("resources/read", {"uri": random.choice(self.uris)})

    def get_prompt(self) -> None:
        self._post("prompts/get", _prompt(random.choice(self.prompts)))

    # ------------------------------------------------------------------------ wire

    def _notify(self, method: str) -> None:
        body = dumps({"jsonrpc": "2.0", "method": method})
        with self.client.post(
            PATH, data=body, headers=self.headers, name=method, catch_response=True
        ) as resp:
            if resp.status_code != 202:
                resp.failure(f"HTTP {resp.status_code}")

    def _post(
        self, method: str, params: dict[str, Any] | None = None, probe: bool = False
    ) -> dict[str, Any] | None:
        """The result of ``method``, or None after recording a failure (with ``probe``: a
        request counted under "METHOD (probe)" whose failure is not one)."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": next(self.ids), "method": method}
        if params is not None:
            msg["params"] = params
        name = f"{method} (probe)" if probe else method
        with self.client.post(
            PATH, data=dumps(msg), headers=self.headers, name=name, catch_response=True
        ) as resp:
            problem, result = self._check(method, resp)
            if problem and not probe:
                resp.failure(problem)
            else:
                resp.success()
            return None if problem else result

    def _check(self, method: str, resp: Any) -> tuple[str, dict[str, Any] | None]:
        if resp.status_code != 200:
            return f"HTTP {resp.status_code}: {(resp.text or '')[:200]}", None
        try:
            answer = loads(resp.content or b"")
        except DecodeError:
            return f"not JSON: {(resp.text or '')[:200]}", None
        result = answer.get("result") if isinstance(answer, dict) else None
        if not isinstance(result, dict):
            return f"no result: {(resp.text or '')[:200]}", None
        if result.get("isError"):
            return f"tool error: {(resp.text or '')[:200]}", None
        if method == "initialize":
            sid = resp.headers.get("mcp-session-id")
            if not sid:
                return "initialize without an Mcp-Session-Id header", None
            self.session_id = sid
            self.headers["mcp-session-id"] = sid
        return "", result


def _prompt(prompt: dict[str, Any]) -> dict[str, Any]:
    """prompts/get params for ``prompt``: its required arguments all "x"."""
    args = {a["name"]: "x" for a in prompt.get("arguments") or [] if a.get("required")}
    return {"name": prompt["name"], "arguments": args}

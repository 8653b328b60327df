"""The admin API's OpenAPI 3.1 document, served at ``/openapi.json``.

Written by hand next to the handlers (:mod:`only1mcp.admin.api`) so it says exactly what they
answer; the request bodies come from the same pydantic models the handlers validate with. The
tests fuzz the live listener against it (schemathesis): every answer must match.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from only1mcp import __version__
from only1mcp.admin.bodies import LogLevelBody, ToolCallBody

Schema = dict[str, Any]


def _nullable(kind: str, **extra: Any) -> Schema:
    return {"type": [kind, "null"], **extra}


def _object(properties: Schema, required: list[str] | None = None, **extra: Any) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        **extra,
    }


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


STATE = {"type": "string", "enum": ["starting", "ready", "down", "closed", "disabled", "off"]}
BREAKER = {"type": ["string", "null"], "enum": ["closed", "open", "half_open", None]}

INSTANCE: Schema = {
    "name": {"type": "string"},
    "state": STATE,
    "healthy": {"type": "boolean"},
    "breaker": BREAKER,
    "last_error": {"type": "string"},
    "pid": _nullable("integer"),
    "restarts": {"type": "integer", "minimum": 0},
}

ROLLING = _object(
    {
        "calls_per_s": {"type": "number", "minimum": 0},
        "calls": {"type": "integer", "minimum": 0},
        "errors": {"type": "integer", "minimum": 0},
        "p50_ms": _nullable("number"),
        "p99_ms": _nullable("number"),
        "total": {"type": "integer", "minimum": 0},
    }
)

NAMES = {"type": "array", "items": {"type": "string"}}
RELOAD = _object(
    {
        "ok": {"type": "boolean"},
        "generation": {"type": "integer", "minimum": 0},
        "trigger": {"type": "string", "enum": ["file", "sighup", "admin"]},
        "at": {"type": "number"},
        "seconds": {"type": "number", "minimum": 0},
        "error": {"type": "string"},
        "changes": _object({"added": NAMES, "removed": NAMES, "changed": NAMES}),
        "applied_live": NAMES,
        "requires_restart": NAMES,
        "down": {"type": "object", "additionalProperties": {"type": "string"}},
    }
)

SCHEMAS: Schema = {
    "Error": _object({"error": {"type": "string"}, "detail": {"type": "string"}}, ["error"]),
    "Overview": _object(
        {
            "version": {"type": "string"},
            "uptime_s": {"type": "number"},
            "ready": {"type": "boolean"},
            "servers": {"type": "integer"},
            "servers_up": {"type": "integer"},
            "sessions": {"type": "integer"},
            "tools": {"type": "integer"},
            "log_level": {"type": "string"},
            "config": _ref("ConfigStatus"),
        }
    ),
    "Replica": _object(INSTANCE),
    "Server": _object(
        {
            **INSTANCE,
            "transport": {"type": "string", "enum": ["stdio", "http", "sse", "pool"]},
            "tools": {"type": "integer", "minimum": 0},
            "enabled": {"type": "boolean"},
            "era": {"type": ["string", "null"], "enum": ["handshake", "stateless", None]},
            "protocol_version": _nullable("string"),
            "replicas": {"type": "array", "items": _ref("Replica")},
        }
    ),
    "ServerList": _object({"servers": {"type": "array", "items": _ref("Server")}}),
    "Session": _object(
        {
            "id": {"type": "string"},
            "era": {"type": "string", "enum": ["handshake", "stateless"]},
            "protocol_version": {"type": "string"},
            "client": {"type": "string"},
            "principal": {"type": "string"},
            "initialized": {"type": "boolean"},
            "bridged": {"type": "boolean"},
        }
    ),
    "Sessions": _object(
        {
            "count": {"type": "integer", "minimum": 0},
            "by_era": _object({"handshake": {"type": "integer"}, "stateless": {"type": "integer"}}),
            "by_version": {"type": "object", "additionalProperties": {"type": "integer"}},
            "sessions": {"type": "array", "items": _ref("Session")},
        }
    ),
    "Tool": _object(
        {
            "name": {"type": "string"},
            "server": {"type": "string"},
            "description": {"type": "string"},
            "inputSchema": {"type": "object"},
        }
    ),
    "ToolList": _object({"tools": {"type": "array", "items": _ref("Tool")}}),
    "Rolling": ROLLING,
    "RecentError": _object(
        {
            "at": {"type": "number"},
            "server": {"type": "string"},
            "tool": {"type": "string"},
            "message": {"type": "string"},
        }
    ),
    "Stats": _object(
        {
            "metrics": {
                "type": "boolean",
                "description": "false: metrics.enabled is false, and there are no statistics",
            },
            "window_s": {"type": "integer"},
            "servers": {"type": "object", "additionalProperties": _ref("Rolling")},
            "tools": {"type": "object", "additionalProperties": _ref("Rolling")},
            "errors": {"type": "array", "items": _ref("RecentError")},
        }
    ),
    "CallAnswer": _object(
        {
            "result": {"type": "object"},
            "error": _object(
                {"code": {"type": "integer"}, "message": {"type": "string"}, "data": {}},
                ["code", "message"],
            ),
        },
        [],
        description="The JSON-RPC answer's result, or its error (a tool's own failure is a "
        "result with isError: true).",
    ),
    "Reload": RELOAD,
    "ConfigStatus": _object(
        {
            "file": {"type": "string"},
            "generation": {"type": "integer", "minimum": 0},
            "last_reload": {"oneOf": [RELOAD, {"type": "null"}]},
        }
    ),
    "LogLevel": _object({"level": {"type": "string"}}),
}


def _json(schema: str, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*statuses: int) -> Schema:
    words = {
        401: "No valid credentials (with authentication on).",
        403: "Not allowed: the principal lacks the admin role, or a cross-site Origin.",
        404: "No such server.",
        409: "The server's state does not allow this action.",
        422: "The request body (or, for a reload, the config file) is not valid.",
        500: "A reload failed while applying the new config (a bug: see the server log).",
    }
    return {str(status): _json("Error", words[status]) for status in (401, 403, *statuses)}


def _body(model: type[BaseModel]) -> Schema:
    return {
        "required": True,
        "content": {"application/json": {"schema": _ref(model.__name__)}},
    }


NAME = {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


def _get(operation: str, summary: str, schema: str) -> Schema:
    return {
        "get": {
            "operationId": operation,
            "summary": summary,
            "responses": {"200": _json(schema, summary), **_errors()},
        }
    }


def _server_action(operation: str, summary: str) -> Schema:
    return {
        "post": {
            "operationId": operation,
            "summary": summary,
            "parameters": [NAME],
            "responses": {
                "200": _json("Server", "The server after the action."),
                **_errors(404, 409),
            },
        }
    }


PATHS: Schema = {
    "/api/overview": _get("overview", "The process at a glance.", "Overview"),
    "/api/servers": _get("listServers", "Every configured server.", "ServerList"),
    "/api/servers/{name}": {
        "get": {
            "operationId": "getServer",
            "summary": "One server: state, replicas, breaker, last error, restarts.",
            "parameters": [NAME],
            "responses": {"200": _json("Server", "The server."), **_errors(404)},
        }
    },
    "/api/servers/{name}/restart": _server_action("restartServer", "Restart a running server."),
    "/api/servers/{name}/disable": _server_action("disableServer", "Stop a server for now."),
    "/api/servers/{name}/enable": _server_action("enableServer", "Start a disabled server."),
    "/api/sessions": _get("listSessions", "Connected sessions, by era.", "Sessions"),
    "/api/tools": _get("listTools", "The merged tool catalog.", "ToolList"),
    "/api/tools/call": {
        "post": {
            "operationId": "callTool",
            "summary": "Call a tool as a client would (the dashboard's playground).",
            "requestBody": _body(ToolCallBody),
            "responses": {"200": _json("CallAnswer", "The tool's answer."), **_errors(422)},
        }
    },
    "/api/stats": _get("getStats", "Calls/s, p50 and p99 per server and tool.", "Stats"),
    "/api/config": {
        "get": {
            "operationId": "getConfig",
            "summary": "The running configuration, secrets redacted.",
            "responses": {
                "200": {
                    "description": "The configuration.",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **_errors(),
            },
        }
    },
    "/api/config/reload": {
        "post": {
            "operationId": "reloadConfig",
            "summary": "Read the config file again and apply it (docs/admin.md, hot reload).",
            "responses": {
                "200": _json("Reload", "Applied: what changed, and what needs a restart."),
                **_errors(409, 422, 500),
            },
        }
    },
    "/api/log-level": {
        "post": {
            "operationId": "setLogLevel",
            "summary": "Set the process's log level.",
            "requestBody": _body(LogLevelBody),
            "responses": {"200": _json("LogLevel", "The level now."), **_errors(422)},
        }
    },
}


def document() -> Schema:
    """The whole OpenAPI document."""
    schemas = dict(SCHEMAS)
    for model in (LogLevelBody, ToolCallBody):
        schemas[model.__name__] = model.model_json_schema()
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Only1MCP admin API",
            "version": __version__,
            "description": "Operate a running Only1MCP: see docs/admin.md.",
        },
        "paths": PATHS,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }

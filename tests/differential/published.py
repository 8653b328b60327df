"""Scenarios of the published servers: everything, filesystem, memory, time, git, fetch.

Each calls the server's own tools by their published names (exposed through ``run.naming``) with
fixed arguments, deterministic where the server allows (a fixed git commit date, a loopback page
for fetch, a memory graph cleared first), and records every answer, errors included.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types

from .scenarios import Run, list_all, outcome


async def tool(run: Run, name: str, arguments: dict[str, Any] | None = None) -> Any:
    return await outcome(run.client.call_tool(run.naming.tool(name), arguments or {}))


async def everything(run: Run) -> Any:
    seen: list[Any] = []

    async def progress(value: float, total: float | None, message: str | None) -> None:
        seen.append({"progress": value, "total": total, "message": message})

    long_op = run.client.call_tool(
        run.naming.tool("trigger-long-running-operation"),
        {"duration": 0.6, "steps": 3},
        progress_callback=progress,
    )
    return {
        "echo": await tool(run, "echo", {"message": "differential"}),
        "sum": await tool(run, "get-sum", {"a": 2, "b": 3}),
        "bad_sum": await tool(run, "get-sum", {"a": "two"}),
        "image": await tool(run, "get-tiny-image"),
        "annotated": await tool(
            run, "get-annotated-message", {"messageType": "success", "includeImage": True}
        ),
        "reference": await tool(run, "get-resource-reference", {"resourceId": 2}),
        "links": await tool(run, "get-resource-links", {"count": 2}),
        "structured": await tool(run, "get-structured-content", {"location": "Chicago"}),
        "long": await outcome(long_op),
        "progress": seen,
    }


async def everything_resources(run: Run) -> Any:
    read = run.client.read_resource
    return {
        "list": await list_all(lambda c: run.client.list_resources(cursor=c), "resources"),
        "templates": await list_all(
            lambda c: run.client.list_resource_templates(cursor=c), "resourceTemplates"
        ),
        "static": await outcome(
            read(run.naming.uri("demo://resource/static/document/features.md"))
        ),
        "text": await outcome(read(run.naming.uri("demo://resource/dynamic/text/1"))),
        "blob": await outcome(read(run.naming.uri("demo://resource/dynamic/blob/2"))),
        "missing": await outcome(read(run.naming.uri("demo://resource/nothing/here"))),
    }


async def everything_prompts(run: Run) -> Any:
    get = run.client.get_prompt
    completable = types.PromptReference(
        type="ref/prompt", name=run.naming.tool("completable-prompt")
    )
    template = types.ResourceTemplateReference(
        type="ref/resource", uri=run.naming.uri("demo://resource/dynamic/text/{resourceId}")
    )
    return {
        "list": await list_all(lambda c: run.client.list_prompts(cursor=c), "prompts"),
        "simple": await outcome(get(run.naming.tool("simple-prompt"))),
        "args": await outcome(get(run.naming.tool("args-prompt"), {"city": "Paris"})),
        "resource": await outcome(
            get(run.naming.tool("resource-prompt"), {"resourceType": "Text", "resourceId": "1"})
        ),
        "complete_prompt": await outcome(
            run.client.complete(completable, {"name": "department", "value": "E"})
        ),
        "complete_template": await outcome(
            run.client.complete(template, {"name": "resourceId", "value": "1"})
        ),
    }


async def filesystem(run: Run) -> Any:
    files = str(run.workdir / "files")
    return {
        "allowed": await tool(run, "list_allowed_directories"),
        "read": await tool(run, "read_text_file", {"path": f"{files}/hello.txt"}),
        "write": await tool(run, "write_file", {"path": f"{files}/out.txt", "content": "x\ny\n"}),
        "read_written": await tool(run, "read_text_file", {"path": f"{files}/out.txt"}),
        "list": await tool(run, "list_directory", {"path": files}),
        "tree": await tool(run, "directory_tree", {"path": files}),
        "search": await tool(run, "search_files", {"path": files, "pattern": "*.json"}),
        "missing": await tool(run, "read_text_file", {"path": f"{files}/missing.txt"}),
        "outside": await tool(run, "read_text_file", {"path": "/etc/hostname"}),
        "edit": await tool(
            run,
            "edit_file",
            {
                "path": f"{files}/out.txt",
                "edits": [{"oldText": "y", "newText": "z"}],
                "dryRun": True,
            },
        ),
    }


async def memory(run: Run) -> Any:
    names = ["alice", "bob"]
    cleared = await tool(run, "delete_entities", {"entityNames": names})  # a clean graph first
    entities = [
        {"name": "alice", "entityType": "person", "observations": ["likes tea"]},
        {"name": "bob", "entityType": "person", "observations": []},
    ]
    relation = [{"from": "alice", "to": "bob", "relationType": "knows"}]
    observations = [{"entityName": "bob", "contents": ["plays chess"]}]
    return {
        "cleared": cleared,
        "create": await tool(run, "create_entities", {"entities": entities}),
        "relate": await tool(run, "create_relations", {"relations": relation}),
        "observe": await tool(run, "add_observations", {"observations": observations}),
        "search": await tool(run, "search_nodes", {"query": "chess"}),
        "open": await tool(run, "open_nodes", {"names": ["alice"]}),
        "graph": await tool(run, "read_graph"),
        "bad": await tool(run, "add_observations", {"observations": [{"entityName": "nobody"}]}),
        "delete": await tool(run, "delete_entities", {"entityNames": names}),
    }


async def time_scenario(run: Run) -> Any:
    convert = {"source_timezone": "UTC", "time": "12:30", "target_timezone": "Asia/Tokyo"}
    return {
        "convert": await tool(run, "convert_time", convert),
        "now": await tool(run, "get_current_time", {"timezone": "UTC"}),
        "bad_zone": await tool(run, "get_current_time", {"timezone": "Mars/Olympus"}),
    }


async def git(run: Run) -> Any:
    repo = str(run.workdir / "repo")
    return {
        "status": await tool(run, "git_status", {"repo_path": repo}),
        "log": await tool(run, "git_log", {"repo_path": repo, "max_count": 5}),
        "diff": await tool(run, "git_diff_unstaged", {"repo_path": repo}),
        "show": await tool(run, "git_show", {"repo_path": repo, "revision": "HEAD"}),
        "branch": await tool(run, "git_branch", {"repo_path": repo, "branch_type": "local"}),
        "bad": await tool(run, "git_checkout", {"repo_path": repo, "branch_name": "no-such"}),
    }


async def fetch(run: Run) -> Any:
    url = run.page_url
    return {
        "markdown": await tool(run, "fetch", {"url": url}),
        "raw": await tool(run, "fetch", {"url": url, "raw": True}),
        "closed_port": await tool(run, "fetch", {"url": "http://127.0.0.1:9/nothing"}),
        "prompts": await list_all(lambda c: run.client.list_prompts(cursor=c), "prompts"),
        "prompt": await outcome(run.client.get_prompt(run.naming.tool("fetch"), {"url": url})),
    }


PUBLISHED_SCENARIOS: dict[str, Callable[[Run], Awaitable[Any]]] = {
    "everything": everything,
    "everything_resources": everything_resources,
    "everything_prompts": everything_prompts,
    "filesystem": filesystem,
    "memory": memory,
    "time": time_scenario,
    "git": git,
    "fetch": fetch,
}

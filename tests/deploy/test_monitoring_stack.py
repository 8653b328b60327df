"""The Grafana dashboard and the Prometheus config of ``deploy/`` against a real ``only1mcp``.

A real aggregator, on the config compose runs, serves real calls (successes, a tool error, an
unknown tool), then its admin listener's ``/metrics`` is scraped as Prometheus does. Every
PromQL expression the dashboard holds is parsed with a real PromQL parser (``promql-parser``,
the Rust one); each metric it selects must be in the scrape, and each label it matches or
groups by must be one of that metric's labels: a renamed metric or label shows up here, not as
an empty panel.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import promql_parser
import pytest
import yaml
from auth.test_e2e import sdk_client
from e2e.conftest import HttpAggregator, call_outcome, free_port, fx_stdio_server, venv_bin
from prometheus_client.parser import text_string_to_metric_families

from .deployfiles import DEPLOY, KEYS, dockerfile, instructions

DASHBOARD = DEPLOY / "grafana" / "dashboards" / "only1mcp.json"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"
#: Grafana's variables, as a value PromQL parses (``$server`` is a regex: All is ``.*``).
GRAFANA_VARIABLES = {"$__rate_interval": "1m", "$__range": "1h", "$server": ".*"}
#: Labels Prometheus adds to every scraped sample (target labels), and the histogram's own.
ADDED_LABELS = {"job", "instance"}
SAMPLE_SUFFIXES = {"counter": ("_total",), "histogram": ("", "_bucket", "_count", "_sum")}


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HttpAggregator, int]]:
    """``deploy/only1mcp.yaml`` (API keys, access roles, the time server) served for real:
    only the listeners move to loopback ports, and the fixture server joins for a tool error."""
    work = tmp_path_factory.mktemp("monitoring")
    admin = free_port()
    config = yaml.safe_load((DEPLOY / "only1mcp.yaml").read_text())
    config["admin"].update(host="127.0.0.1", port=admin)
    config["servers"]["time"]["command"] = venv_bin("mcp-server-time")
    config["servers"]["fx"] = fx_stdio_server()
    path = work / "only1mcp.yaml"
    path.write_text(yaml.safe_dump(config))
    aggregator = HttpAggregator(path, work / "only1mcp.log", env={**os.environ, **KEYS})
    try:
        aggregator.wait_healthy()
        anyio.run(_calls, aggregator.url)
        yield aggregator, admin
    finally:
        problems = aggregator.stop()
    assert not problems, problems


async def _calls(url: str) -> None:
    operator = {"Authorization": f"Bearer {KEYS['ONLY1MCP_API_KEY']}"}
    async with sdk_client(url, operator) as client:
        ok, text = await call_outcome(client, "time__get_current_time", {"timezone": "UTC"})
        assert ok, text
        assert await call_outcome(client, "fx__echo", {"text": "hi"}) == (True, "hi")
        assert (await call_outcome(client, "fx__fail", {"message": "no"}))[0] is False
        assert (await call_outcome(client, "fx__nope", {}))[0] is False


@pytest.fixture(scope="module")
def families(running: tuple[HttpAggregator, int]) -> dict[str, set[str]]:
    """Scraped as Prometheus does (its bearer token) → metric name (and each sample name:
    ``_bucket``, ``_count``…) → its label names."""
    url = f"http://127.0.0.1:{running[1]}/metrics"
    assert httpx.get(url, timeout=10).status_code == 401
    metrics_key = {"Authorization": f"Bearer {KEYS['ONLY1MCP_METRICS_KEY']}"}
    scrape = httpx.get(url, headers=metrics_key, timeout=10)
    assert scrape.status_code == 200, scrape.text
    labels: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(scrape.text):
        # A family with no sample yet is still served (its HELP and TYPE): these are the
        # names a query selects it by.
        for suffix in SAMPLE_SUFFIXES.get(family.type, ("",)):
            labels.setdefault(family.name + suffix, set())
        for sample in family.samples:
            labels.setdefault(sample.name, set()).update(sample.labels)
            labels.setdefault(family.name, set()).update(sample.labels)
    return labels


def dashboard_queries() -> list[str]:
    """Every PromQL expression of the dashboard: panels, annotations, variables."""
    board = json.loads(DASHBOARD.read_text())
    queries = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
    queries += [a["expr"] for a in board["annotations"]["list"] if "expr" in a]
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            # label_values(METRIC, LABEL) is Grafana's, not PromQL: its metric and label.
            found = re.fullmatch(r"label_values\((\w+), *(\w+)\)", variable["query"]["query"])
            assert found, variable
            queries.append(f"count by ({found[2]}) ({found[1]})")
    return queries


def grafana_free(expr: str) -> str:
    for name, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(name, value)
    assert "$" not in expr, f"a Grafana variable this test does not know: {expr}"
    return expr


def selections(expr: str) -> list[tuple[str, set[str]]]:
    """(metric name, the labels the expression names for it: its matchers and the ``by`` of
    each aggregation around it) of each selector in ``expr``."""
    found: list[tuple[str, set[str]]] = []

    def walk(node: Any, grouping: frozenset[str]) -> None:
        modifier = node.modifier if isinstance(node, promql_parser.AggregateExpr) else None
        if modifier is not None and modifier.type == promql_parser.AggModifierType.By:
            grouping = grouping | set(modifier.labels)
        if isinstance(node, promql_parser.VectorSelector):
            matched = {m.name for m in node.matchers.matchers}
            found.append((node.name or "", matched | grouping))
        for child in _children(node):
            walk(child, grouping)

    walk(promql_parser.parse(grafana_free(expr)), frozenset())
    return found


def _children(node: Any) -> list[Any]:
    for kind, fields in (
        (promql_parser.AggregateExpr, ("expr",)),
        (promql_parser.BinaryExpr, ("lhs", "rhs")),
        (promql_parser.ParenExpr, ("expr",)),
        (promql_parser.UnaryExpr, ("expr",)),
        (promql_parser.MatrixSelector, ("vector_selector",)),
        (promql_parser.SubqueryExpr, ("expr",)),
    ):
        if isinstance(node, kind):
            return [getattr(node, name) for name in fields]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    return []


def test_the_dashboard_has_queries_for_each_area() -> None:
    queries = dashboard_queries()
    assert len(queries) >= 20
    names = {name for expr in queries for name, _ in selections(expr)}
    # clients, backends, breakers, restarts, failovers, refusals, reloads, catalog, sessions
    for wanted in (
        "mcp_server_operation_duration_seconds_bucket",
        "mcp_client_operation_duration_seconds_bucket",
        "only1mcp_backend_up",
        "only1mcp_breaker_state",
        "only1mcp_backend_restarts_total",
        "only1mcp_pool_retries_total",
        "only1mcp_rate_limited_total",
        "only1mcp_config_reloads_total",
        "only1mcp_catalog_items",
        "only1mcp_sessions",
    ):
        assert wanted in names


def test_every_dashboard_metric_is_served(families: dict[str, set[str]]) -> None:
    missing = sorted(
        {name for expr in dashboard_queries() for name, _ in selections(expr)} - families.keys()
    )
    assert not missing, f"the dashboard queries metrics /metrics does not serve: {missing}"


def test_every_dashboard_label_belongs_to_its_metric(families: dict[str, set[str]]) -> None:
    wrong = []
    for expr in dashboard_queries():
        for name, labels in selections(expr):
            served = families.get(name, set())
            # A family with no sample yet (no refusal happened) has no labels to compare.
            if served:
                extra = labels - served - ADDED_LABELS - {"__name__", "le"}
                if extra:
                    wrong.append(f"{name} has no label {sorted(extra)} (has {sorted(served)})")
    assert not wrong, "\n".join(wrong)


def test_the_parser_sees_what_a_query_names() -> None:
    """The check above is only as good as its walk over the parsed query."""
    expr = 'sum by (server) (rate(x_total{kind="a"}[$__rate_interval])) / y{replica!=""}'
    assert sorted(selections(expr)) == [("x_total", {"kind", "server"}), ("y", {"replica"})]


def test_prometheus_scrapes_the_admin_listener() -> None:
    config = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["authorization"]["type"] == "Bearer"
    (target,) = job["static_configs"][0]["targets"]
    host, port = target.split(":")
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    assert host in compose["services"]
    served = yaml.safe_load((DEPLOY / "only1mcp.yaml").read_text())
    assert int(port) == served["admin"]["port"]
    secret = Path(job["authorization"]["credentials_file"]).name
    assert secret in compose["services"]["prometheus"]["secrets"]


def test_the_image_healthcheck_passes_on_a_running_server(
    running: tuple[HttpAggregator, int],
) -> None:
    """The Dockerfile's HEALTHCHECK command, run against a real server (its port swapped)."""
    aggregator, _ = running
    argv = json.loads(instructions(dockerfile(), "HEALTHCHECK")[0]["value"].split("CMD", 1)[1])
    assert argv[:2] == ["python", "-c"]
    code = argv[2].replace("127.0.0.1:8765", f"127.0.0.1:{aggregator.port}")
    assert code != argv[2]
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    refused = subprocess.run(
        [sys.executable, "-c", argv[2].replace("8765", str(free_port()))], capture_output=True
    )
    assert refused.returncode != 0


def test_the_reload_signal_of_the_unit_reloads_in_place(
    running: tuple[HttpAggregator, int],
) -> None:
    """What ``systemctl reload`` (ExecReload) and ``docker kill -s HUP`` send: a reload in
    place, counted; the process and its listeners stay. Last in this module: it reloads."""
    aggregator, admin = running
    reload_line = (DEPLOY / "systemd" / "only1mcp.service").read_text().split("ExecReload=")[1]
    assert reload_line.split()[1] == "-HUP"
    os.kill(aggregator.proc.pid, signal.SIGHUP)
    url = f"http://127.0.0.1:{admin}/metrics"
    metrics_key = {"Authorization": f"Bearer {KEYS['ONLY1MCP_METRICS_KEY']}"}
    deadline = time.monotonic() + 30
    reloads = 0.0
    while time.monotonic() < deadline and not reloads:
        text = httpx.get(url, headers=metrics_key, timeout=10).text
        reloads = sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "only1mcp_config_reloads_total"
            and sample.labels == {"result": "success"}
        )
        time.sleep(0.2)
    assert reloads == 1
    assert aggregator.proc.poll() is None
    anyio.run(_calls, aggregator.url)

"""``deploy/helm/only1mcp``: rendered by helm itself when it is installed (``make helm`` builds
it from the Go module proxy), and checked without it in every run.

Without helm, the templates are not rendered here: a Go-template renderer of our own would
test itself, not the chart. Instead each template is read as YAML with its template actions
taken out (a line holding only ``{{ ... }}`` dropped, an inline ``{{ ... }}`` replaced by a
placeholder), which catches broken indentation and structure, and every ``.Values.x.y`` a
template names must exist in values.yaml.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from only1mcp.config import parse_config

from .deployfiles import DEPLOY, KEYS
from .tools import built

CHART = DEPLOY / "helm" / "only1mcp"
TEMPLATES = sorted((CHART / "templates").glob("*.yaml"))
ACTION_LINE = re.compile(r"^\s*\{\{.*\}\}\s*$")
ACTION = re.compile(r"\{\{.*?\}\}")


def values() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((CHART / "values.yaml").read_text())
    return loaded


def without_actions(text: str) -> str:
    lines = [line for line in text.splitlines() if not ACTION_LINE.match(line)]
    return "\n".join(ACTION.sub("PLACEHOLDER", line) for line in lines)


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_each_template_is_yaml_without_its_actions(template: Path) -> None:
    document = yaml.safe_load(without_actions(template.read_text()))
    assert document["apiVersion"] and document["kind"]
    assert document["metadata"]["name"] == "PLACEHOLDER"


def test_every_value_a_template_names_exists() -> None:
    names = {
        match
        for path in (CHART / "templates").iterdir()
        for match in re.findall(r"\.Values\.([A-Za-z0-9_.]+)", path.read_text())
    }
    assert len(names) >= 10
    for name in sorted(names):
        node: Any = values()
        for part in name.split("."):
            assert isinstance(node, dict) and part in node, f".Values.{name}: not in values.yaml"
            node = node[part]


def test_the_default_values_are_a_valid_config() -> None:
    config = parse_config(values()["config"], "values.yaml config", KEYS)
    assert config.auth.enabled and config.front.host == "0.0.0.0"


def test_chart_metadata() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["apiVersion"] == "v2" and chart["name"] == "only1mcp"
    pyproject = (DEPLOY.parent / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in pyproject


# ------------------------------------------------------------------ with helm


@pytest.fixture(scope="module")
def helm() -> str:
    found = built("helm")
    if found is None:
        pytest.skip("helm is not installed: `make helm` builds it from the Go module proxy")
    return found


def render(helm: str, *options: str) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [helm, "template", "mcp", str(CHART), *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return {doc["kind"]: doc for doc in yaml.safe_load_all(done.stdout) if doc}


def test_helm_lint(helm: str) -> None:
    done = subprocess.run(
        [helm, "lint", "--strict", str(CHART)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rendered_config_is_valid_for_only1mcp(helm: str) -> None:
    config_map = render(helm)["ConfigMap"]
    config = parse_config(yaml.safe_load(config_map["data"]["only1mcp.yaml"]), "cm", KEYS)
    assert config.admin.port == values()["config"]["admin"]["port"]


def test_the_deployment_runs_the_image_as_its_user(helm: str) -> None:
    rendered = render(helm, "--set", "image.tag=1.2.3")
    pod = rendered["Deployment"]["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == "only1mcp:1.2.3"
    assert container["args"] == ["start", "--config", "/etc/only1mcp/only1mcp.yaml"]
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "mcp": 8765,
        "admin": 8766,
    }
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "mcp"}
    assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    assert pod["spec"]["securityContext"]["runAsUser"] == 10001
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["envFrom"] == [{"secretRef": {"name": "only1mcp-keys"}}]
    assert "annotations" not in pod["metadata"]  # a config change is hot-reloaded in place
    service = rendered["Service"]
    assert service["spec"]["selector"] == pod["metadata"]["labels"]


def test_a_config_change_rolls_the_pods_when_asked(helm: str) -> None:
    def checksum(*options: str) -> str:
        rendered = render(helm, "--set", "rollOnConfigChange=true", *options)
        value: str = rendered["Deployment"]["spec"]["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        return value

    assert len(checksum()) == 64
    assert checksum("--set", "config.log_level=debug") != checksum()


def test_the_service_monitor_is_optional(helm: str) -> None:
    assert "ServiceMonitor" not in render(helm)
    monitor = render(helm, "--set", "serviceMonitor.enabled=true")["ServiceMonitor"]
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] == "admin" and endpoint["path"] == "/metrics"
    assert endpoint["bearerTokenSecret"]["key"] == "ONLY1MCP_METRICS_KEY"

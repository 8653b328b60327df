"""``deploy/Dockerfile``, ``deploy/compose.yaml`` and the config they run, linted where no
Docker engine runs: the Dockerfile through a real parser (dockerfile-parse), the compose file
against the Compose Specification's JSON schema, the config through Only1MCP's own loader."""

from __future__ import annotations

import json
import re
from importlib.resources import files
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from only1mcp.config import load_config
from only1mcp.errors import ConfigError

from .deployfiles import DEPLOY, KEYS, REPO_ROOT, dockerfile


def stages() -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions, one list per ``FROM``."""
    found: list[list[dict[str, Any]]] = []
    for item in dockerfile().structure:
        if item["instruction"] == "FROM":
            found.append([])
        if found and item["instruction"] != "COMMENT":
            found[-1].append(item)
    return found


def values(stage: list[dict[str, Any]], name: str) -> list[str]:
    return [item["value"] for item in stage if item["instruction"] == name]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return loaded


def served_config() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DEPLOY / "only1mcp.yaml").read_text())
    return loaded


def test_the_image_is_built_in_two_stages() -> None:
    parsed = dockerfile()
    assert parsed.is_multistage
    builder, runtime = stages()
    assert builder[0]["value"].endswith(" AS builder")
    assert any("maturin build --release --out /dist" in run for run in values(builder, "RUN"))
    # the runtime: CPython 3.11 slim, the version the ARG names
    assert runtime[0]["value"].startswith("python:${PYTHON_VERSION}-slim")
    assert parsed.baseimage.startswith("python:3.11-slim")


def test_the_runtime_installs_the_wheel_and_nothing_to_build() -> None:
    runtime = stages()[-1]
    runs = values(runtime, "RUN")
    (install,) = [run for run in runs if "pip install" in run]
    assert "from=builder,source=/dist" in install
    assert re.search(r"pip install /dist/only1mcp-\*\.whl", install)
    # no source tree, no compiler, no Rust in the image that runs
    assert not values(runtime, "COPY"), "the runtime copies files besides the wheel"
    assert not any(re.search(r"apt-get|cargo|rustup|maturin|gcc", run) for run in runs)


def test_the_process_runs_as_a_non_root_user() -> None:
    runtime = stages()[-1]
    (user,) = values(runtime, "USER")
    assert user.split(":")[0] not in {"root", "0"}
    assert user.split(":")[0].isdigit(), "Kubernetes' runAsNonRoot needs a numeric USER"
    # nothing runs as root after the switch
    order = [item["instruction"] for item in runtime]
    assert "RUN" not in order[order.index("USER") :]
    (useradd,) = [run for run in values(runtime, "RUN") if "useradd" in run]
    assert f"--uid {user.split(':')[0]}" in useradd


def test_healthcheck_ports_and_entrypoint() -> None:
    runtime = stages()[-1]
    (check,) = values(runtime, "HEALTHCHECK")
    assert "/healthz" in check and "--start-period" in check
    config = served_config()
    exposed = {int(port) for port in values(runtime, "EXPOSE")[0].split()}
    assert exposed == {config["front"]["port"], config["admin"]["port"]}
    assert json.loads(values(runtime, "ENTRYPOINT")[0]) == ["only1mcp"]
    assert json.loads(values(runtime, "CMD")[0]) == ["start"]


def test_the_build_context_sends_what_the_build_copies() -> None:
    """``Dockerfile.dockerignore`` excludes everything but what ``COPY`` names."""
    kept = {
        line[1:].rstrip("/")
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    for copy in values(stages()[0], "COPY"):
        for source in copy.split()[:-1]:
            assert source in kept, f"COPY {source}: excluded from the build context"
            assert (REPO_ROOT / source).exists()


def _compose_schema() -> dict[str, Any]:
    vendor = files("check_jsonschema.builtin_schemas.vendor")
    loaded: dict[str, Any] = json.loads(vendor.joinpath("compose-spec.json").read_text())
    return loaded


def test_the_compose_file_follows_the_compose_specification() -> None:
    schema = _compose_schema()
    jsonschema.validate(compose(), schema)
    broken = compose()
    broken["services"]["only1mcp"]["portz"] = ["8765:8765"]
    with pytest.raises(jsonschema.ValidationError, match="portz"):
        jsonschema.validate(broken, schema)


def test_compose_runs_the_three_services_from_the_committed_files() -> None:
    services = compose()["services"]
    assert set(services) == {"only1mcp", "prometheus", "grafana"}
    build = services["only1mcp"]["build"]
    assert (DEPLOY / build["context"]).resolve() == REPO_ROOT
    assert (REPO_ROOT / build["dockerfile"]).resolve() == DEPLOY / "Dockerfile"
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), f"{volume}: no such file in deploy/"
    assert services["prometheus"]["depends_on"]["only1mcp"]["condition"] == "service_healthy"


def test_compose_mounts_the_config_where_the_image_reads_it() -> None:
    env = dict(
        line.split("=", 1)
        for item in values(stages()[-1], "ENV")
        for line in re.sub(r"\s+", "\n", item).splitlines()
    )
    volumes = compose()["services"]["only1mcp"]["volumes"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in volumes}
    assert mounts[env["ONLY1MCP_CONFIG"]] == "./only1mcp.yaml"


def test_grafana_provisioning_finds_the_dashboard() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provider_file = DEPLOY / "grafana" / "provisioning" / "dashboards" / "only1mcp.yaml"
    (provider,) = yaml.safe_load(provider_file.read_text())["providers"]
    folder = DEPLOY / mounts[provider["options"]["path"]]
    assert (folder / "only1mcp.json").is_file()
    source = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml"
    (datasource,) = yaml.safe_load(source.read_text())["datasources"]
    assert datasource["url"] == "http://prometheus:9090"
    board = json.loads((folder / "only1mcp.json").read_text())
    assert board["templating"]["list"][0]["query"] == datasource["type"]


def test_the_served_config_loads_with_the_keys_compose_passes() -> None:
    environment = compose()["services"]["only1mcp"]["environment"]
    referenced = set(re.findall(r"\$\{(\w+)\}", (DEPLOY / "only1mcp.yaml").read_text()))
    assert referenced == set(environment) == set(KEYS)
    config = load_config(DEPLOY / "only1mcp.yaml", environ=KEYS)
    assert config.auth.enabled and config.front.host == "0.0.0.0"
    assert config.admin.host == "0.0.0.0"
    assert {key.name for key in config.auth.api_keys} == {"operator", "prometheus"}


def test_the_served_config_names_a_missing_key() -> None:
    with pytest.raises(ConfigError, match="ONLY1MCP_METRICS_KEY"):
        load_config(DEPLOY / "only1mcp.yaml", environ={"ONLY1MCP_API_KEY": "k" * 32})


def test_the_compose_ports_are_the_served_ones() -> None:
    config = served_config()
    published = {int(port.rsplit(":", 1)[1]) for port in compose()["services"]["only1mcp"]["ports"]}
    assert published == {config["front"]["port"], config["admin"]["port"]}
    assert Path("/etc/only1mcp/only1mcp.yaml").name == "only1mcp.yaml"

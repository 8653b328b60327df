"""The recording primitives: a frame's error type, the histogram's buckets, bounded labels."""

from __future__ import annotations

import orjson
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from only1mcp.catalog import Catalog
from only1mcp.errors import BackendTimeout, BackendUnavailable, InvalidParams
from only1mcp.telemetry.metrics import Histogram, Metrics, error_type, failure_type
from only1mcp.telemetry.observer import Observer


def frame(**fields: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": 1, **fields})


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (frame(result={"content": []}), ""),
        (frame(result={"content": [], "isError": True}), "tool_error"),
        (frame(result={"content": [], "isError": False}), ""),
        (frame(error={"code": -32602, "message": "x"}), "-32602"),
        (frame(error={"code": 42, "message": "a server's own code"}), "_other"),
        # the words inside a successful result are not an error
        (frame(result={"structuredContent": {"error": {"code": -1}, "isError": True}}), ""),
        (frame(result={"content": [{"type": "text", "text": '"error": "isError"'}]}), ""),
        (b'{"jsonrpc":"2.0","id":1,"result":{"isError": true}}', "tool_error"),
        (b'{"jsonrpc": "2.0", "id": 1, "error" : {"code": -32601}}', "-32601"),
        (b'{"id":1,"result":{"a":"error","isError":false},"jsonrpc":"2.0"}', ""),
    ],
)
def test_error_type_of_a_frame(answer: bytes, expected: str) -> None:
    assert error_type(answer) == expected


def test_failure_type_of_a_backend_call() -> None:
    assert failure_type(BackendUnavailable("down")) == "unavailable"
    assert failure_type(BackendTimeout("slow")) == "-32001"
    assert failure_type(InvalidParams("bad")) == "-32602"
    assert failure_type(ValueError("a bug")) == "_internal"


def test_histogram_buckets_are_cumulative_with_the_sum() -> None:
    histogram = Histogram("h_seconds", "doc", ("k",))
    for value in (0.005, 0.01, 0.015, 7.0, 1000.0):
        histogram.observe(("a",), value)
    family = histogram.family()
    by_le = {s.labels["le"]: s.value for s in family.samples if s.name == "h_seconds_bucket"}
    assert by_le["0.01"] == 2  # le is inclusive
    assert by_le["0.02"] == 3
    assert by_le["5.0"] == 3 and by_le["10.0"] == 4
    assert by_le["300.0"] == 4 and by_le["+Inf"] == 5
    (total,) = [s.value for s in family.samples if s.name == "h_seconds_sum"]
    assert total == pytest.approx(1007.03)


def test_labels_are_bounded() -> None:
    metrics = Metrics()
    tools = Catalog(["s"], {"s": ""}, "__", "name")
    tools.set_items("s", [{"name": "known"}])
    observer = Observer(metrics, None, {"tools": tools, "prompts": Catalog([], {}, "__", "name")})
    answer = frame(result={})
    for method, params, version in [
        ("tools/call", {"name": "known"}, "2025-11-25"),
        ("tools/call", {"name": "made-up-1"}, "2025-11-25"),
        ("tools/call", {"name": "made-up-2"}, "1999-01-01"),
        ("prompts/get", {"name": 3}, None),
        ("x/unheard-of", {}, "2026-07-28"),
    ]:
        msg = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params}
        observer.end(observer.begin(msg), msg, answer, version)
    assert set(metrics.server_ops.series) == {
        ("tools/call", "known", "", "", "2025-11-25"),
        ("tools/call", "_unknown", "", "", "2025-11-25"),
        ("tools/call", "_unknown", "", "", "_other"),
        ("prompts/get", "", "_unknown", "", "_other"),
        ("_other", "", "", "", "2026-07-28"),
    }


def test_the_registry_renders_what_was_recorded() -> None:
    metrics = Metrics()
    metrics.config_reloaded(False)
    metrics.config_reloaded(True, generation=3)
    metrics.replayed("pool", "failover")
    text = generate_latest(metrics.registry).decode()
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert samples[("only1mcp_config_reloads_total", (("result", "failure"),))] == 1
    assert samples[("only1mcp_config_reloads_total", (("result", "success"),))] == 1
    assert samples[("only1mcp_config_generation", ())] == 3
    assert samples[("only1mcp_pool_retries_total", (("kind", "failover"), ("server", "pool")))] == 1

"""``only1mcp_cluster_redis_up``: whether this process reaches the cluster's Redis."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from only1mcp.cluster.store import RedisStore


class RedisUp(Collector):
    """Read at each scrape from the store's up/down flag."""

    def __init__(self, store: RedisStore) -> None:
        self.store = store

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "only1mcp_cluster_redis_up",
            "1 when the cluster's Redis answers (0: this process serves on its own state).",
        )
        gauge.add_metric([], 1 if self.store.up else 0)
        return [gauge]

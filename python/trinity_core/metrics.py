"""A client's metrics in the ``prometheus_client`` registry an application already serves.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> trinity_core.metrics.register(client, registry)   # doctest: +SKIP
    >>> generate_latest(registry)                         # doctest: +SKIP

Each scrape reads the client's metrics as OpenMetrics text (``client.metrics_text()``) and hands
the parsed families to the registry, so the names, units and buckets are the engine's own (the
OpenTelemetry GenAI metrics and ``trinity_*``). ``prometheus_client`` is only imported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from trinity_core._native import Client

__all__ = ["ClientCollector", "register"]


class ClientCollector:
    """A ``prometheus_client`` collector over one client's metrics."""

    def __init__(self, client: Client) -> None:
        self._client = client

    def collect(self) -> Iterator[Any]:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families

        yield from text_string_to_metric_families(self._client.metrics_text())  # type: ignore[no-untyped-call]

    def describe(self) -> list[Any]:
        # Nothing up front: registering must not scrape, and a second client under another
        # `metrics.prefix` may share the registry.
        return []


def register(client: Client, registry: Any = None) -> ClientCollector:
    """Adds ``client``'s metrics to ``registry`` (default: ``prometheus_client.REGISTRY``);
    returns the collector, for ``registry.unregister``."""
    if registry is None:
        from prometheus_client import REGISTRY

        registry = REGISTRY
    collector = ClientCollector(client)
    registry.register(collector)
    return collector

"""A client's metrics in the ``prometheus_client`` registry an application already serves.

    >>> from prometheus_client import CollectorRegistry, generate_latest
    >>> registry = CollectorRegistry()
    >>> trinity_core.metrics.register(client, registry)   # doctest: +SKIP
    >>> generate_latest(registry)                         # doctest: +SKIP

Each scrape hands the client's metric families to the registry as ``prometheus_client``'s own
``Metric`` and ``Sample`` objects, built by the engine (no text parsing), so the names, units and
buckets are the engine's own (the OpenTelemetry GenAI metrics and ``trinity_*``).
``prometheus_client`` is only imported here.
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
        from prometheus_client.metrics_core import Metric
        from prometheus_client.samples import Sample

        yield from self._client.metrics_families(Metric, Sample)

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

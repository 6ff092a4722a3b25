"""What the web's scrape answers: every process's series (exporter.py) and the instances by status
and health, read from the dashboard's counters (a few hundred small rows, never a COUNT over the
instances)."""

from __future__ import annotations

from collections.abc import Iterator

from django.db.models import Sum
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from setup_portal.stats.models import StateCount

from .exporter import ProcessesCollector


class InstancesCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("portal_instances", "Instances by status and health (deleted ones left out).",
                                   labels=["status", "health"])
        rows = (StateCount.objects.exclude(status="deleted").order_by().values_list("status", "health")
                .annotate(total=Sum("n")))
        for status, health, total in rows:
            family.add_metric([status, health], total or 0)
        yield family


def exposition() -> bytes:
    """The Prometheus text format of every series."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ProcessesCollector())
    registry.register(InstancesCollector())
    return generate_latest(registry)

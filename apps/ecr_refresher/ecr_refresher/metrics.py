"""Prometheus metrics: is every namespace's secret fresh, and when does the token expire."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """The refresher's metrics, in their own registry (one per refresher instance)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.last_success = Gauge(
            "ecr_refresher_last_success_timestamp_seconds",
            "Unix time the namespace's pull secret was last written successfully.",
            ["namespace"],
            registry=self.registry,
        )
        self.secret_expiry = Gauge(
            "ecr_refresher_secret_expiry_timestamp_seconds",
            "Unix time the token now stored in the namespace's secret expires (alert on it).",
            ["namespace"],
            registry=self.registry,
        )
        self.namespace_failures = Counter(
            "ecr_refresher_namespace_failures",
            "Refreshes of a namespace that failed after all attempts.",
            ["namespace"],
            registry=self.registry,
        )
        self.namespaces_failing = Gauge(
            "ecr_refresher_namespaces_failing",
            "Target namespaces whose last refresh failed.",
            registry=self.registry,
        )
        self.token_expiry = Gauge(
            "ecr_refresher_token_expiry_timestamp_seconds",
            "Unix time the current ECR token expires, per registry host.",
            ["registry"],
            registry=self.registry,
        )
        self.token_failures = Counter(
            "ecr_refresher_token_fetch_failures",
            "Failed ecr:GetAuthorizationToken calls.",
            registry=self.registry,
        )
        self.refresh_duration = Histogram(
            "ecr_refresher_refresh_duration_seconds",
            "Wall time of one refresh pass over its namespaces.",
            buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
            registry=self.registry,
        )

    def forget_namespace(self, namespace: str) -> None:
        """Drop a deleted namespace's series so it does not look stale forever."""
        for metric in (self.last_success, self.secret_expiry, self.namespace_failures):
            with contextlib.suppress(KeyError):  # never written for this namespace
                metric.remove(namespace)

"""Prometheus metrics (per worker process: each scrape sees the worker that answered)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.ping_latency = Histogram(
            "ppcx_ping_latency_seconds",
            "ping received to answer sent",
            registry=self.registry,
            buckets=LATENCY_BUCKETS_S,
        )
        self.decision_latency = Histogram(
            "ppcx_auction_decision_seconds",
            "ping received to winner reserved",
            registry=self.registry,
            buckets=LATENCY_BUCKETS_S,
        )
        self.auctions = Counter(
            "ppcx_auctions_total", "auction outcomes", ["outcome"], registry=self.registry
        )
        self.bid_timeouts = Counter(
            "ppcx_bid_timeouts_total",
            "real-time bids that missed the deadline",
            registry=self.registry,
        )
        self.append_latency = Histogram(
            "ppcx_event_append_seconds",
            "one event-store transaction (group commit)",
            registry=self.registry,
            buckets=LATENCY_BUCKETS_S,
        )
        self.appended_events = Counter(
            "ppcx_events_appended_total", "events appended", registry=self.registry
        )
        self.requests = Counter(
            "ppcx_http_requests_total",
            "requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )

    def on_commit(self, seconds: float, events: int) -> None:
        self.append_latency.observe(seconds)
        self.appended_events.inc(events)

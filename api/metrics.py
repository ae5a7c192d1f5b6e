"""Prometheus metrics of the API workers.

Under `ppcx serve` every process writes its values where prometheus-client's multiprocess
mode reads them (the composition root sets `PROMETHEUS_MULTIPROC_DIR` before the workers
start, as the library requires), and a scrape of any worker answers for all of them
(`exposition`): counters summed, gauges per process. In one process (tests, a single
worker without the directory) the registry is read directly.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Metric,
    generate_latest,
    multiprocess,
)

from exchange.ping import PingResult

LATENCY_BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0, 2.5)
CLOCK_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")


class Metrics:
    def __init__(self, *, multiprocess_dir: Path | None = None, role: str = "api") -> None:
        self.multiprocess_dir = multiprocess_dir
        self.role = role
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
            "ppcx_auctions_total",
            "auction outcomes, by the channel the ping came on (api, rtb, twilio)",
            ["channel", "outcome"],
            registry=self.registry,
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
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.request_latency = Histogram(
            "ppcx_http_request_seconds",
            "HTTP request duration by route template",
            ["route"],
            registry=self.registry,
            buckets=LATENCY_BUCKETS_S,
        )
        self.resident_bytes = Gauge(
            "ppcx_process_resident_memory_bytes",
            "resident memory of each PPCX process",
            ["role"],
            registry=self.registry,
            multiprocess_mode="liveall",  # a dead process leaves no line
        )
        self.cpu_seconds = Gauge(
            "ppcx_process_cpu_seconds",
            "CPU time (user + system) used by each PPCX process",
            ["role"],
            registry=self.registry,
            multiprocess_mode="liveall",  # a dead process leaves no line
        )
        self.started_at = Gauge(
            "ppcx_process_start_time_seconds",
            "when each PPCX process started (Unix time)",
            ["role"],
            registry=self.registry,
            multiprocess_mode="liveall",  # a dead process leaves no line
        )
        self.started_at.labels(role).set(time.time())

    def on_commit(self, seconds: float, events: int) -> None:
        self.append_latency.observe(seconds)
        self.appended_events.inc(events)

    def count_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.request_latency.labels(route).observe(seconds)

    def record_ping(self, channel: str, result: PingResult, started_s: float) -> None:
        """One ping's auction, whatever channel it came on (the API, RTB, a Twilio call);
        `started_s` is `time.perf_counter()` when it arrived."""
        self.ping_latency.observe(time.perf_counter() - started_s)
        self.decision_latency.observe(result.decision_ms / 1000)
        outcome = "accepted" if result.accepted else (result.reason or "none")
        self.auctions.labels(channel, outcome).inc()
        if result.bids_timed_out:
            self.bid_timeouts.inc(result.bids_timed_out)

    def sample_process(self) -> None:
        """This process's memory and CPU, read from /proc (cheap; every few seconds)."""
        try:
            fields = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return
        # fields after the command name: state is [0]; utime [11], stime [12], rss [21]
        cpu_ticks = int(fields[11]) + int(fields[12])
        self.cpu_seconds.labels(self.role).set(cpu_ticks / CLOCK_TICKS_PER_S)
        self.resident_bytes.labels(self.role).set(int(fields[21]) * PAGE_BYTES)

    def exposition(self, *extra: Any) -> bytes:
        """The text a scrape gets: every process's values in multiprocess mode, else this
        registry's; `extra` collectors (lags computed at scrape time) are added."""
        if self.multiprocess_dir is not None:
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(  # type: ignore[no-untyped-call]
                registry, path=str(self.multiprocess_dir)
            )
        else:
            registry = self.registry
        text = generate_latest(registry)
        for collector in extra:
            scratch = CollectorRegistry()
            scratch.register(collector)
            text += generate_latest(scratch)
        return text


class _Lag:
    """Gauges of how far the relay and the projections trail the head, computed per scrape."""

    def __init__(self, lag: dict[str, Any] | None) -> None:
        self.lag = lag or {}

    def collect(self) -> list[Metric]:
        found = []
        for name, key, text in (
            ("ppcx_store_head", "head", "the event store's newest notification id"),
            ("ppcx_relay_lag_events", "relay_events", "events not yet relayed to JetStream"),
            ("ppcx_projection_lag_events", "projection_events", "events readers cannot see yet"),
            (
                "ppcx_projection_lag_seconds",
                "projection_seconds",
                "age of the oldest event readers cannot see yet",
            ),
        ):
            value = self.lag.get(key)
            if value is None:
                continue
            metric = Metric(name, text, "gauge")
            metric.add_sample(name, {}, float(value))
            found.append(metric)
        return found


def lag_gauges(lag: dict[str, Any] | None) -> _Lag:
    return _Lag(lag)

"""`ppcx-tools bench lag`: how far what readers see trails the log, under steady traffic.

`ppcx serve` runs every role (API workers, relay, projector, sweeper) on a fresh data dir with
its own embedded Redis and NATS; demo-like traffic (ping, post, answer, complete) flows
through its API while `/readyz` is sampled: `lag.projection_seconds` is the age of the oldest
event the reading routes cannot see yet (0 when they see everything), the relay's lag is in
events. The baseline is the projector's own publication interval (`PPCX_SNAPSHOT_INTERVAL_S`):
the floor of the read lag by design.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console

from ppcx.settings import Settings
from tools.bench.report import Figure
from tools.sim.served import Traffic, build, served

SAMPLE_INTERVAL_S = 0.1
LAG_P99_TARGET_S = 2.0


def _p(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def run(console: Console, *, seconds: float) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="ppcx-lag-") as tmp, served(Path(tmp)) as system:
        market = build(system)
        traffic = Traffic(system, market).start()
        projection_s: list[float] = []
        relay_events: list[float] = []
        try:
            traffic.wait_cycles(20)  # past the first calls' warm-up
            started_cycles, started = traffic.cycles, time.monotonic()
            while time.monotonic() - started < seconds:
                lag = system.readyz()["lag"]
                if lag is not None and lag["projection_seconds"] is not None:
                    projection_s.append(float(lag["projection_seconds"]))
                    relay_events.append(float(lag["relay_events"] or 0))
                time.sleep(SAMPLE_INTERVAL_S)
            cycles = traffic.cycles - started_cycles
            elapsed = time.monotonic() - started
        finally:
            traffic.stop()
    interval = Settings().snapshot_interval_s
    console.print(
        f"{len(projection_s)} samples over {elapsed:.0f} s; {cycles / elapsed:.1f} calls/s "
        f"(ping, post, answer, complete)"
    )
    return [
        Figure(
            "read lag p50 (oldest event readers cannot see)",
            _p(projection_s, 50),
            "s",
            "projector publication interval",
            interval,
            higher_is_better=False,
        ),
        Figure(
            "read lag p99",
            _p(projection_s, 99),
            "s",
            "projector publication interval",
            interval,
            target=f"≤ {LAG_P99_TARGET_S:g} s",
            higher_is_better=False,
        ),
        Figure("read lag max", max(projection_s, default=0.0), "s", higher_is_better=False),
        Figure("relay lag p99", _p(relay_events, 99), "events", higher_is_better=False),
        Figure("traffic", cycles / elapsed, "calls/s"),
    ]

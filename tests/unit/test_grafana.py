"""The Grafana dashboard in the repository charts metrics the API actually exposes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from api.metrics import Metrics, lag_gauges

pytestmark = pytest.mark.unit
DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana" / "ppcx-dashboard.json"


def _exposed() -> set[str]:
    metrics = Metrics()
    metrics.sample_process()
    text = metrics.exposition(
        lag_gauges(
            {"head": 1, "relay_events": 0, "projection_events": 0, "projection_seconds": 0.0}
        )
    ).decode()
    names = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            names.add(name)
            if kind == "histogram":
                names.add(f"{name}_bucket")
            if kind == "counter":
                names.add(f"{name}_total" if not name.endswith("_total") else name)
    return names


def test_every_metric_the_dashboard_charts_is_exposed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    exposed = _exposed()
    charted = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            for name in re.findall(r"\b(ppcx_[a-z_]+)", target["expr"]):
                charted.add(name)
    assert charted, "the dashboard charts nothing"
    assert charted <= exposed, charted - exposed

"""The HTTP benchmark's load levels and the figure its target is read from."""

from __future__ import annotations

from tools.bench.http import Load, _sweep_figures, sweep_levels


def _load(per_s: float, p99_ms: float) -> Load:
    """A load of 100 requests in the time `per_s` gives, 99 fast and one at `p99_ms`."""
    return Load(100 / per_s, [1.0] * 98 + [p99_ms] * 2, errors=0, first_error=[])


def test_levels_step_up_to_the_full_load() -> None:
    assert sweep_levels(32) == [8, 16, 24, 32]
    assert sweep_levels(20) == [8, 16, 20]
    assert sweep_levels(8) == [8]
    assert sweep_levels(3) == [3]


def test_the_target_figure_is_the_most_pings_within_the_tail_bound() -> None:
    sweep = {8: _load(700, 20), 16: _load(1050, 35), 24: _load(1150, 49.9), 32: _load(1200, 60)}
    figures = {f.name: f for f in _sweep_figures(sweep, bare_per_s=4000)}
    best = figures["durable pings/s with p99 ≤ 50 ms (24 clients)"]
    assert round(best.value) == 1150
    assert best.baseline_value == 4000
    assert round(figures["32 clients: durable pings/s"].value) == 1200
    assert figures["32 clients: ping latency p99"].value == 60


def test_no_level_within_the_bound_gives_zero() -> None:
    figures = _sweep_figures({8: _load(700, 51), 16: _load(900, 80)}, bare_per_s=4000)
    assert figures[-1].name == "durable pings/s with p99 ≤ 50 ms (no level)"
    assert figures[-1].value == 0

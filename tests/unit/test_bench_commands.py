"""`ppcx-tools bench all` calls each benchmark's command as a function: every option must be
given, or the command receives typer's `OptionInfo` instead of its default (which is how
`make bench` once failed in its HTTP step); and the commits comparison's figures."""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from typer.models import OptionInfo

from tools.bench import commits
from tools.commands import bench


def test_bench_all_gives_every_option_of_every_step(monkeypatch: pytest.MonkeyPatch) -> None:
    called: dict[str, dict[str, Any]] = {}
    for name in (
        "store",
        "exchange",
        "http",
        "projections",
        "replay",
        "lag",
        "portal",
        "webhooks",
        "transcription",
        "cluster",
    ):
        command = getattr(bench, name)
        parameters = inspect.signature(command).parameters

        def record(
            *args: Any, _name: str = name, _parameters: Any = parameters, **kwargs: Any
        ) -> None:
            called[_name] = dict(zip(_parameters, args, strict=False)) | kwargs

        monkeypatch.setattr(bench, name, record)
        called.setdefault("_params_" + name, dict(parameters))
    bench.run_all(write=False)
    steps = [name for name in called if not name.startswith("_params_")]
    assert len(steps) == 10
    for name in steps:
        given = called[name]
        missing = set(called["_params_" + name]) - set(given)
        assert not missing, f"bench all does not give {name} its {sorted(missing)}"
        assert not [k for k, v in given.items() if isinstance(v, OptionInfo)], name


def test_commits_figures_are_medians_against_the_first_commit() -> None:
    base = commits._Server("old", None, "", "", "", "p0")  # type: ignore[arg-type]
    new = commits._Server("new", None, "", "", "", "p1")  # type: ignore[arg-type]
    base.rounds = [(1.0, 1000.0, 2.0, 1.5), (1.2, 900.0, 2.2, 1.6), (9.0, 100.0, 9.0, 9.0)]
    new.rounds = [(1.3, 800.0, 2.4, 1.8), (1.1, 950.0, 2.6, 2.0), (1.2, 850.0, 2.5, 1.9)]
    figures = {f.name: f for f in commits._figures([base, new], clients=16)}
    cpu = figures["new: server CPU per ping, 16 clients"]
    assert cpu.value == 1.2
    assert cpu.baseline_value == 1.2
    assert cpu.ratio == 1.0
    per_s = figures["new: durable pings/s, 16 clients"]
    assert per_s.value == 850.0
    assert per_s.baseline_value == 900.0
    one = figures["new: one client, ping latency p50"]
    assert one.value == 2.5
    assert one.baseline_value == 2.2
    assert figures["old: one client, server CPU per ping"].ratio == 1.0
    assert len(figures) == 8


def test_the_working_tree_is_named_by_its_head() -> None:
    assert commits._label("f275a3d") == "f275a3d"
    label = commits._label(".")
    assert label.startswith("tree on ")
    assert len(label) > len("tree on ")


def test_an_unknown_revision_is_refused_before_anything_starts() -> None:
    commits.check_revisions([".", "HEAD"])
    with pytest.raises(ValueError, match="'no-such-rev' is not a commit"):
        commits.check_revisions(["HEAD", "no-such-rev"])

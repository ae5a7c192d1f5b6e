"""Figures, their baselines and ratios; rendering to the terminal and into BENCHMARKS.md."""

from __future__ import annotations

import os
import platform
import re
import sqlite3
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.console import Console
from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One measured figure; `baseline` is measured in the same process and run."""

    name: str
    value: float
    unit: str
    baseline_name: str = ""
    baseline_value: float | None = None
    target: str = ""
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        if self.baseline_value is None or self.baseline_value == 0:
            return None
        return self.value / self.baseline_value


def fmt(value: float) -> str:
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.3g}"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def render(title: str, figures: Sequence[Figure], console: Console) -> None:
    table = Table(title=title)
    for column in (
        "figure",
        "value",
        "unit",
        "baseline (same run)",
        "baseline value",
        "ratio",
        "target",
    ):
        table.add_column(
            column, justify="right" if "value" in column or column == "ratio" else "left"
        )
    for f in figures:
        table.add_row(
            f.name,
            fmt(f.value),
            f.unit,
            f.baseline_name or "-",
            fmt(f.baseline_value) if f.baseline_value is not None else "-",
            f"{f.ratio:.2f}" if f.ratio is not None else "-",
            f.target or "-",
        )
    console.print(table)


def markdown(title: str, command: str, figures: Sequence[Figure], notes: Sequence[str]) -> str:
    lines = [
        f"### {title}",
        "",
        f"Command: `{command}` — run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine()}.",
        "",
        "| figure | value | unit | baseline (same run) | baseline value | ratio | target |",
        "|---|---:|---|---|---:|---:|---|",
    ]
    for f in figures:
        lines.append(
            f"| {f.name} | {fmt(f.value)} | {f.unit} | {f.baseline_name or '-'} | "
            f"{fmt(f.baseline_value) if f.baseline_value is not None else '-'} | "
            f"{f'{f.ratio:.2f}' if f.ratio is not None else '-'} | {f.target or '-'} |"
        )
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    return "\n".join(lines) + "\n"


def write_section(path: Path, name: str, body: str) -> None:
    """Replace (or append) the section between this benchmark's markers in BENCHMARKS.md."""
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    block = f"{start}\n{body}{end}"
    text = (
        path.read_text()
        if path.exists()
        else (
            "# Benchmarks\n\nFigures from `make bench` (`ppcx-tools bench all`). Each figure "
            "stands next to a baseline measured in the same process and run, because the "
            "machine is shared and noisy: compare ratios, not absolute numbers, between runs.\n"
        )
    )
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    text = (
        pattern.sub(lambda _: block, text)
        if pattern.search(text)
        else (text.rstrip("\n") + "\n\n" + block + "\n")
    )
    path.write_text(text)


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")

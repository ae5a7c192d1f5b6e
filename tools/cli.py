"""The `ppcx-tools` command line: the demo and the benchmarks (`make demo`, `make bench`)."""

from __future__ import annotations

import sys

import typer

from ppcx.commands.common import err_console
from tools.commands import bench, demo

app = typer.Typer(
    name="ppcx-tools",
    help="Tools around PPCX: the demo market and the benchmarks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command("demo")(demo.demo)
app.add_typer(bench.app, name="bench")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

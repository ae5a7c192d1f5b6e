"""What every command shares: the console, settings, and clean failures."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

from ppcx.logs import configure_logging
from ppcx.settings import Settings

__all__ = ["configure_logging", "console", "err_console", "fail", "load_settings"]

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (plain text: brackets in it are not markup) and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)

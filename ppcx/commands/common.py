"""What every command shares: the console, settings, and clean failures."""

from __future__ import annotations

from datetime import datetime

import typer
from rich.console import Console
from rich.markup import escape

from domain.clock import parse_rfc3339
from domain.errors import ValidationError
from ppcx.logs import configure_logging
from ppcx.settings import Settings

__all__ = ["configure_logging", "console", "err_console", "fail", "load_settings", "utc_time"]

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (plain text: brackets in it are not markup) and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


def utc_time(text: str, option: str, code: int = 2) -> datetime:
    """A time given on the command line: RFC 3339 with an offset, read by the same parser as
    the API's times (`domain.clock.parse_rfc3339`); anything else fails with `code`."""
    try:
        return parse_rfc3339(text, option)
    except ValidationError as error:
        raise fail(error.message, code=code) from None

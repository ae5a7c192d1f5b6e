"""What every command shares: the console, settings, and clean failures."""

from __future__ import annotations

import logging

import orjson
import typer
from rich.console import Console
from rich.markup import escape

from ppcx.settings import Settings

console = Console()
err_console = Console(stderr=True)


def load_settings() -> Settings:
    return Settings()


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` (plain text: brackets in it are not markup) and exit with `code`."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(code)


class JsonLogFormatter(logging.Formatter):
    """One JSON object a line (never a caller number or an API key: those are not logged)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)

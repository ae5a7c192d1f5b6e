"""Deployment secrets: from settings when configured, otherwise generated once into the data
dir (mode 0600) so a single-node install works out of the box and keeps its keys."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from ppcx.settings import Settings


def _load_or_create(path: Path) -> str:
    try:
        value = path.read_text().strip()
        if value:
            return value
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    # O_EXCL: if another process created it first, use theirs
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def secret_key(settings: Settings) -> str:
    """Keys the hashes of API keys and caller numbers."""
    return settings.secret_key or _load_or_create(settings.resolved_data_dir / "secret.key")


def audit_key(settings: Settings) -> str:
    """Keys the tamper-evident chain of the event log."""
    return settings.audit_key or _load_or_create(settings.resolved_data_dir / "audit.key")

"""The tests' moment: every test clock starts here unless a test says otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday afternoon

"""Hosts that start together on one PostgreSQL: each creates the store's tables if they are
missing (CREATE … IF NOT EXISTS), and PostgreSQL refuses one of two such statements racing on
one catalog row ("tuple concurrently updated"); the store retries, so every host starts."""

from __future__ import annotations

import threading

import pytest

from ppcx.bootstrap import build_application
from ppcx.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.postgres]
HOSTS = 6


def test_hosts_starting_together_all_start(postgres_settings: Settings) -> None:
    barrier = threading.Barrier(HOSTS)
    errors: list[BaseException] = []
    heads: list[int] = []

    def start() -> None:
        barrier.wait()
        try:
            app = build_application(postgres_settings)
            try:
                app.positions().position("ppcx-relay")  # the tracking table too
                heads.append(app.store.head())
            finally:
                app.close()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(HOSTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert heads == [0] * HOSTS

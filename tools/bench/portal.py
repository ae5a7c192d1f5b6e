"""`ppcx-tools bench portal`: page times of the portal's calls lists over a store of 10,000
synthetic calls (projected), next to the API's `GET /v1/calls` for the same tenant and page
size, measured in the same run against the same server (`create_app` under uvicorn on
loopback, one worker). One client, one request at a time: latency, not throughput."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import uvicorn
from rich.console import Console

from api.keys import KeyHasher
from domain.commands import SetPassword
from domain.invariant import present
from handlers import parse
from portal.invites import invite, token_hash, token_in, user_of
from portal.passwords import hash_password
from ppcx.bootstrap import build_application, build_domain
from ppcx.secrets import secret_key
from ppcx.services import free_loopback_port
from ppcx.settings import Settings
from ppcx.web import create_app
from projections.projector import Projector
from projections.store import ProjectionStore
from tools.bench.report import Figure
from tools.sim.synthetic import generate_fast

CALLS = 10_000
REQUESTS = 200  # per page, one after another
PASSWORD = "bench-portal-password"  # noqa: S105 - a throwaway user in a throwaway store
START_TIMEOUT_S = 60.0
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _tenants(settings: Settings) -> tuple[str, str]:
    """A buyer and a publisher of the synthetic market that have calls."""
    store = ProjectionStore(settings.resolved_duckdb_path)
    try:
        buyer = store.con.execute(
            "SELECT buyer_id FROM calls WHERE buyer_id IS NOT NULL "
            "GROUP BY buyer_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
        publisher = store.con.execute(
            "SELECT publisher_id FROM calls GROUP BY publisher_id ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()
    finally:
        store.close()
    return str(present(buyer, "a buyer with calls")[0]), str(
        present(publisher, "a publisher with calls")[0]
    )


def _people(settings: Settings, buyer_id: str, publisher_id: str) -> str:
    """A buyer user and a publisher user with passwords, and the buyer's API key."""
    keys = KeyHasher(secret_key(settings))
    domain = build_domain(settings)
    try:
        for email, role, owner in (
            ("buyer@bench.ppcx", "buyer", buyer_id),
            ("publisher@bench.ppcx", "publisher", publisher_id),
        ):
            _, link = invite(
                domain.users, keys, email=email, role=role, owner_id=owner, by="bench", base_url=""
            )
            token = token_in(link)
            user_id = present(user_of(token), "an invite token names its user")
            domain.users.set_password(
                SetPassword(user_id, token_hash(keys, token), hash_password(PASSWORD))
            )
        issued = keys.issue()
        domain.setup.issue_api_key(
            parse.issue_api_key(
                role="buyer",
                owner_id=buyer_id,
                label="bench",
                key_hash=issued.key_hash,
                key_id=issued.key_id,
                by="bench",
            )
        )
    finally:
        domain.close()
    return issued.api_key


def _serve(settings: Settings) -> tuple[uvicorn.Server, threading.Thread, str]:
    port = free_loopback_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning", access_log=False
        )
    )
    thread = threading.Thread(target=server.run, name="bench-portal", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the server did not start")
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{port}"


def _sign_in(client: httpx.Client, email: str) -> httpx.Client:
    page = client.get("/login").text
    token = present(_CSRF.search(page), "the sign-in form's CSRF token").group(1)
    answer = client.post("/login", data={"email": email, "password": PASSWORD, "csrf": token})
    if answer.status_code not in (200, 303):
        raise RuntimeError(f"sign-in failed: {answer.status_code}")
    return client


def _times_ms(
    client: httpx.Client, path: str, headers: dict[str, str] | None = None
) -> list[float]:
    client.get(path, headers=headers)  # warm: templates compiled, snapshot opened
    times = []
    for _ in range(REQUESTS):
        began = time.perf_counter()
        answer = client.get(path, headers=headers)
        times.append((time.perf_counter() - began) * 1000)
        if answer.status_code != 200:
            raise RuntimeError(f"{path}: {answer.status_code} {answer.text[:300]}")
    return times


def run(settings: Settings, redis_url: str, nats_url: str, console: Console) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-portal-") as tmp:
        directory = Path(tmp)
        run_settings = settings.model_copy(
            update={
                "data_dir": directory,
                "redis_url": redis_url,
                "nats_url": nats_url,
                "redis_prefix": f"benchportal{time.time_ns()}",
                "persistence_module": "eventsourcing.sqlite",
                "sqlite_dbname": str(directory / "events.sqlite"),
                "duckdb_path": directory / "analytics.duckdb",
                "secret_key": "bench-portal",
                "audit_key": "bench-portal",
                "public_base_url": None,
            }
        )
        app = build_application(run_settings)
        try:
            console.print(f"portal: a store of {CALLS:,} synthetic calls, projected …")
            generate_fast(app, CALLS, seed=5, start=datetime(2026, 10, 1, tzinfo=UTC))
            store = ProjectionStore(run_settings.resolved_duckdb_path)
            Projector(store).run_from_log(app.store.read_chained)
            store.publish_snapshot(force=True)
            store.close()
        finally:
            app.close()
        buyer_id, publisher_id = _tenants(run_settings)
        buyer_key = _people(run_settings, buyer_id, publisher_id)
        server, thread, base_url = _serve(run_settings)
        try:
            console.print(f"portal: {REQUESTS} requests per page, one at a time …")
            with httpx.Client(base_url=base_url, timeout=60) as api:
                baseline = _times_ms(
                    api, "/v1/calls?limit=50", {"Authorization": f"Bearer {buyer_key}"}
                )
            with httpx.Client(base_url=base_url, timeout=60) as buyer:
                buyer_page = _times_ms(_sign_in(buyer, "buyer@bench.ppcx"), "/buyer/calls")
            with httpx.Client(base_url=base_url, timeout=60) as publisher:
                publisher_page = _times_ms(
                    _sign_in(publisher, "publisher@bench.ppcx"), "/publisher/calls"
                )
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    base_p50, base_p95 = _quantile(baseline, 0.5), _quantile(baseline, 0.95)
    figures = [Figure("API GET /v1/calls (50 rows): p95", base_p95, "ms", higher_is_better=False)]
    for name, times in (
        ("buyer /buyer/calls", buyer_page),
        ("publisher /publisher/calls", publisher_page),
    ):
        figures.append(
            Figure(
                f"{name}: p50",
                _quantile(times, 0.5),
                "ms",
                "API p50",
                base_p50,
                higher_is_better=False,
            )
        )
        figures.append(
            Figure(
                f"{name}: p95",
                _quantile(times, 0.95),
                "ms",
                "API p95",
                base_p95,
                higher_is_better=False,
                target="≤ 300",
            )
        )
    return figures

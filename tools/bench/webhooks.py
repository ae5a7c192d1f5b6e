"""`ppcx-tools bench webhooks`: deliveries/s of the real delivery worker (`webhooks.worker`, in
this process, against real NATS) to a loopback receiver, next to a bare `httpx.AsyncClient`
posting the same bodies with the same headers and the same concurrency to the same receiver in
the same run.

The store holds synthetic call lives (projected nowhere: the worker reads the call's events
from the log); the relay publishes them to a stream of this run's own; `ENDPOINTS` admin
webhooks subscribe to every event type, each on its own path of one receiver that answers 200
at once. Each figure is deliveries ÷ the time from the first request the receiver saw to the
last. The receiver, the worker and the baseline share one event loop: both sides pay for it."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
from aiohttp import web
from nats.js.errors import NotFoundError
from rich.console import Console

from domain.api_key import Role
from domain.commands import RegisterWebhook
from domain.invariant import invariant, present
from domain.webhook_events import SENT_FOR
from eventstore.deliveries import FILE_NAME, DeliveryRow, DeliveryStore
from eventstore.stream_consumer import StreamSource
from ppcx.bootstrap import Domain, build_domain
from ppcx.settings import Settings
from projections.relay import Relay
from tools.bench.report import Figure, rate
from tools.sim.synthetic import generate_fast
from webhooks.outbound import parse_networks
from webhooks.payloads import SENT_TOPICS
from webhooks.signing import signed
from webhooks.worker import PER_ENDPOINT, DeliveryWorker

CALLS = 300  # synthetic call lives; each sends several events
ENDPOINTS = 2
WAIT_S_MAX = 600.0  # for every delivery to arrive: far beyond a slow run
POLL_S = 0.05
EVERY_EVENT = tuple(dict.fromkeys(e.value for e in SENT_FOR.values()))  # each once


@dataclass
class Receiver:
    """Answers 200 at once; notes when each request arrived."""

    arrived_s: list[float] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.arrived_s.append(time.perf_counter())
        return web.Response(text="ok")

    def span_s(self) -> float:
        return self.arrived_s[-1] - self.arrived_s[0]


@dataclass(frozen=True)
class Hook:
    webhook_id: str
    url: str
    secret: str


def _register(domain: Domain, base_url: str) -> list[Hook]:
    hooks = []
    for n in range(ENDPOINTS):
        url = f"{base_url}/hook{n}"
        webhook = domain.webhooks.register(
            RegisterWebhook(Role.ADMIN, None, url, "POST", EVERY_EVENT, "bench", by="bench")
        )
        hooks.append(Hook(webhook.id, url, domain.webhooks.secret(webhook)))
    return hooks


async def _until(condition: Callable[[], bool], what: str) -> None:
    end = time.monotonic() + WAIT_S_MAX
    while not condition():
        if time.monotonic() > end:
            raise RuntimeError(f"{what}: not within {WAIT_S_MAX:.0f} s")
        await asyncio.sleep(POLL_S)


async def _worker_run(
    domain: Domain, settings: Settings, store: DeliveryStore, receiver: Receiver, expected: int
) -> None:
    nats_url = present(settings.nats_url, "a NATS URL")
    worker = DeliveryWorker(
        domain.app,
        domain.webhooks,
        store,
        domain.clock,
        parse_networks(settings.webhook_allowed_networks),
        domain.webhooks.policy.secret_of,
    )
    stop = asyncio.Event()
    source = StreamSource(nats_url, settings.nats_stream, settings.nats_subject_prefix)
    task = asyncio.create_task(worker.run(source, stop))
    try:
        await _until(lambda: len(receiver.arrived_s) >= expected, "every delivery by the worker")
    finally:
        stop.set()
        await task


async def _bare_run(hooks: list[Hook], rows: list[DeliveryRow], receiver: Receiver) -> None:
    """The same bodies and headers, `PER_ENDPOINT` at a time to each endpoint."""
    now = datetime.now(UTC)
    secrets = {h.webhook_id: h for h in hooks}
    queues: dict[str, asyncio.Queue[tuple[dict[str, str], bytes]]] = {
        h.webhook_id: asyncio.Queue() for h in hooks
    }
    for row in rows:
        headers = signed(secrets[row.webhook_id].secret, row.id, now, row.body)
        queues[row.webhook_id].put_nowait((headers, row.body))

    async def drain(client: httpx.AsyncClient, hook: Hook) -> None:
        queue = queues[hook.webhook_id]
        while not queue.empty():
            headers, body = queue.get_nowait()
            answer = await client.post(hook.url, headers=headers, content=body)
            invariant(answer.status_code == 200, f"the receiver answered {answer.status_code}")

    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        await asyncio.gather(*(drain(client, h) for h in hooks for _ in range(PER_ENDPOINT)))


async def _delete_stream(settings: Settings) -> None:
    connection = await nats.connect(present(settings.nats_url, "a NATS URL"))
    try:
        await connection.jetstream().delete_stream(settings.nats_stream)
    except NotFoundError:
        pass
    finally:
        await connection.close()


async def _measure(
    domain: Domain, settings: Settings, store: DeliveryStore, console: Console
) -> tuple[int, float, float]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        hooks = _register(domain, f"http://{host}:{port}")
        console.print(f"webhooks: {CALLS} synthetic call lives, relayed …")
        # after the webhooks' registration: a webhook hears of events from then on
        generate_fast(domain.app, CALLS, seed=11, start=datetime.now(UTC))
        await Relay(
            domain.app.store.read_chained,
            domain.app.positions(),
            nats_url=present(settings.nats_url, "a NATS URL"),
            stream=settings.nats_stream,
            subject_prefix=settings.nats_subject_prefix,
        ).run(follow=False)
        sent = _sent_count(domain)
        expected = sent * len(hooks)
        console.print(f"webhooks: {expected:,} deliveries by the worker …")
        await _worker_run(domain, settings, store, receiver, expected)
        ours = rate(len(receiver.arrived_s), receiver.span_s())
        rows = [r for h in hooks for r in reversed(store.of_webhook(h.webhook_id, expected))]
        invariant(len(rows) == expected, "every delivery is in the store")
        receiver.arrived_s.clear()
        console.print(f"webhooks: the same {expected:,} requests by a bare httpx client …")
        await _bare_run(hooks, rows, receiver)
        bare = rate(len(receiver.arrived_s), receiver.span_s())
    finally:
        await runner.cleanup()
        await _delete_stream(settings)
    return expected, ours, bare


def _sent_count(domain: Domain) -> int:
    store = domain.app.store
    return len(store.read_topics(1, 10_000_000, stop=store.head(), topics=list(SENT_TOPICS)))


def run(settings: Settings, redis_url: str, nats_url: str, console: Console) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="ppcx-bench-webhooks-") as tmp:
        directory = Path(tmp)
        unique = time.time_ns()
        run_settings = settings.model_copy(
            update={
                "data_dir": directory,
                "redis_url": redis_url,
                "nats_url": nats_url,
                "redis_prefix": f"benchwh{unique}",
                "nats_stream": f"BENCHWH{unique}",
                "nats_subject_prefix": f"benchwh{unique}.events",
                "persistence_module": "eventsourcing.sqlite",
                "sqlite_dbname": str(directory / "events.sqlite"),
                "duckdb_path": directory / "analytics.duckdb",
                "secret_key": "bench-webhooks",
                "audit_key": "bench-webhooks",
                "webhook_allowed_networks": "127.0.0.0/8",
            }
        )
        domain = build_domain(run_settings)
        store = DeliveryStore(directory / FILE_NAME)
        try:
            deliveries, ours, bare = asyncio.run(_measure(domain, run_settings, store, console))
        finally:
            store.close()
            domain.close()
    return [
        Figure(
            f"worker → loopback receiver ({deliveries:,} deliveries, {ENDPOINTS} endpoints)",
            ours,
            "deliveries/s",
            "bare httpx.AsyncClient, same requests",
            bare,
            target="≥ 50% of bare",
        )
    ]

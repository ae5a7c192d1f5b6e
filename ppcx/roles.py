"""The process roles of one PPCX deployment, and what `ppcx serve` runs.

| role | what it does | how many |
|---|---|---|
| `api` | the HTTP API (uvicorn, its own SO_REUSEPORT socket) | `--workers` |
| `relay` | the event log → JetStream, and the signed checkpoints of the head | one (*) |
| `projector` | the log (or JetStream) → the DuckDB tables readers see | one (*) |
| `sweeper` | voids expired bids, closes calls that never reported their end | one |
| `webhooks` | JetStream → webhook deliveries → HTTP (`webhooks.worker`) | one |
| `scorer` | JetStream → lead scores of ended calls (`evidence.scorer`; `PPCX_SCORER`) | one |
| `transcriber` | recordings → redacted transcripts (`evidence.transcriber_worker`) | one |

`ppcx serve` runs every role in the embedded default (the scorer only with `PPCX_SCORER`, the
transcriber only with `PPCX_TRANSCRIBER`, or either named by `--role`: `default_roles`), under
one supervisor
(`ppcx.supervisor`); `--role` runs some of them (docker-compose gives each its own service).
Every role gets the same `Settings` object — service URLs already resolved by the parent —
pickled to its spawned process: nothing is handed over through environment variables, except
prometheus-client's own `PROMETHEUS_MULTIPROC_DIR`, which the library reads at import.

(*) On PostgreSQL several hosts may each run `ppcx serve` with every role: the relay and the
projector then act on one host at a time, the holder of their PostgreSQL advisory lock
(`eventstore.leader`); the others stand by and take over when the leader's session ends. On
SQLite (one host) they act at once, without a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING, Any

from ppcx.settings import Settings
from ppcx.supervisor import ProcessSpec

if TYPE_CHECKING:
    from eventstore.leader import LeaderLock

logger = logging.getLogger(__name__)
PROJECT_POLL_S = 0.2
SWEEP_INTERVAL_S = 1.0


class Role(StrEnum):
    API = "api"
    RELAY = "relay"
    PROJECTOR = "projector"
    SWEEPER = "sweeper"
    WEBHOOKS = "webhooks"
    SCORER = "scorer"
    TRANSCRIBER = "transcriber"


def default_roles(settings: Settings) -> frozenset[Role]:
    """What `ppcx serve` runs when no `--role` is given: every role, the scorer and the
    transcriber only when the settings turn them on (decoding speech costs CPU a deployment
    may not want; a scorer needs a trained model)."""
    off = {Role.SCORER} if not settings.scorer else set()
    if not settings.transcriber:
        off.add(Role.TRANSCRIBER)
    return frozenset(Role) - off


class ProjectorSource(StrEnum):
    LOG = "log"
    NATS = "nats"


@dataclass(frozen=True)
class ServePlan:
    """What `ppcx serve` runs (picklable: each role gets it whole)."""

    settings: Settings
    roles: frozenset[Role]
    host: str
    port: int
    api_workers: int
    projector_source: ProjectorSource = ProjectorSource.LOG

    def process_specs(self) -> list[ProcessSpec]:
        specs = []
        if Role.API in self.roles:
            specs += [
                ProcessSpec(f"api-{n + 1}", api_worker, (self,)) for n in range(self.api_workers)
            ]
        for role, target in (
            (Role.RELAY, relay_role),
            (Role.PROJECTOR, projector_role),
            (Role.SWEEPER, sweeper_role),
            (Role.WEBHOOKS, webhooks_role),
            (Role.SCORER, scorer_role),
            (Role.TRANSCRIBER, transcriber_role),
        ):
            if role in self.roles:
                specs.append(ProcessSpec(role.value, target, (self,)))
        return specs


def _stop_on_signals() -> asyncio.Event:
    """An event set by SIGTERM or SIGINT (the supervisor stops a role with SIGTERM)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


def leader_lock(settings: Settings, role: Role) -> LeaderLock | None:
    """The lock that lets `role` act on one host at a time: on PostgreSQL, where every host
    may run it; None on SQLite (one host)."""
    if settings.persistence_module != "eventsourcing.postgres":
        return None
    from eventstore.leader import LeaderLock, PostgresAddress

    address = PostgresAddress(
        host=settings.postgres_host,
        port=settings.postgres_port,
        user=settings.postgres_user,
        password=settings.postgres_password,
        dbname=settings.postgres_dbname,
        schema=settings.postgres_schema,
    )
    return LeaderLock(address, role.value)


async def run_led(
    lock: LeaderLock | None,
    act: Callable[[asyncio.Event], Awaitable[object]],
    stop: asyncio.Event,
) -> None:
    """`act(stop)` at once without a lock; with one, while this host leads (`lead`)."""
    if lock is None:
        await act(stop)
        return
    from eventstore.leader import lead

    await lead(lock, act, stop)


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "access_log": False,  # ours (PPCX_ACCESS_LOG) never logs a query string
        "log_config": None,
        "timeout_graceful_shutdown": 5,
    }


# -- the roles ------------------------------------------------------------------------------------


def api_worker(plan: ServePlan) -> None:
    import uvicorn

    from ppcx.logs import configure_logging
    from ppcx.web import create_app
    from ppcx.workers import LISTEN_BACKLOG, reuse_port_socket

    configure_logging(role=Role.API.value)
    sock = reuse_port_socket(plan.host, plan.port)
    sock.listen(LISTEN_BACKLOG)
    app = create_app(plan.settings, background_sweep=Role.SWEEPER not in plan.roles)
    config = uvicorn.Config(app, host=plan.host, port=plan.port, **uvicorn_options(plan.settings))
    uvicorn.Server(config).run(sockets=[sock])


def relay_role(plan: ServePlan) -> None:
    from eventstore.checkpoints import checkpoint_key
    from ppcx.bootstrap import build_application
    from ppcx.logs import configure_logging
    from ppcx.secrets import audit_key
    from projections.checkpoints import Checkpoints
    from projections.relay import Relay

    configure_logging(role=Role.RELAY.value)
    settings = plan.settings
    app = build_application(settings)
    relay = Relay(
        app.store.read_chained,
        app.positions(),
        nats_url=str(settings.nats_url),
        stream=settings.nats_stream,
        subject_prefix=settings.nats_subject_prefix,
        checkpoints=Checkpoints(
            key=checkpoint_key(audit_key(settings)),
            data_dir=settings.resolved_data_dir,
            events_stream=settings.nats_stream,
            events_subject_prefix=settings.nats_subject_prefix,
            replicas=settings.nats_replicas,
        ),
        checkpoint_interval_s=settings.checkpoint_interval_s,
        replicas=settings.nats_replicas,
    )

    async def main() -> None:
        await run_led(
            leader_lock(settings, Role.RELAY),
            lambda stop: relay.run(follow=True, stop=stop),
            _stop_on_signals(),
        )

    try:
        asyncio.run(main())
    finally:
        app.close()


def projector_role(plan: ServePlan) -> None:
    import socket

    from ppcx.bootstrap import build_application
    from ppcx.logs import configure_logging
    from projections.projector import DURABLE, Projector, durable_for
    from projections.store import ProjectionStore

    configure_logging(role=Role.PROJECTOR.value)
    settings = plan.settings
    store = ProjectionStore(
        settings.resolved_duckdb_path, snapshot_interval_s=settings.snapshot_interval_s
    )
    projector = Projector(store)
    # not elected: every host projects into its own DuckDB file, which its API reads (a read
    # model per host; one projector per file). From JetStream, each file its own consumer.
    per_host = settings.persistence_module == "eventsourcing.postgres"
    durable = (
        durable_for(socket.gethostname(), str(settings.resolved_duckdb_path))
        if per_host
        else DURABLE
    )
    try:
        if plan.projector_source is ProjectorSource.NATS:

            async def from_nats() -> None:
                await run_led(
                    None,
                    lambda stop: projector.run_from_nats(
                        str(settings.nats_url),
                        settings.nats_stream,
                        settings.nats_subject_prefix,
                        follow=True,
                        stop=stop,
                        replicas=settings.nats_replicas,
                        durable=durable,
                    ),
                    _stop_on_signals(),
                )

            asyncio.run(from_nats())
        else:
            app = build_application(settings)

            async def from_log() -> None:
                await run_led(
                    None,
                    partial(_project_log, projector, store, app.store.read_chained),
                    _stop_on_signals(),
                )

            try:
                asyncio.run(from_log())
            finally:
                app.close()
    finally:
        store.publish_snapshot(force=True)
        store.close()


async def _project_log(projector: Any, store: Any, read_chained: Any, stop: asyncio.Event) -> None:
    """Follow the log until `stop`: DuckDB work on one thread of its own, off the loop."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="projector") as executor:
        while not stop.is_set():
            await loop.run_in_executor(
                executor, partial(projector.run_from_log, read_chained, stop=stop.is_set)
            )
            # at most every snapshot interval, when something changed
            await loop.run_in_executor(executor, store.publish_snapshot)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), PROJECT_POLL_S)


def sweeper_role(plan: ServePlan) -> None:
    from ppcx.logs import configure_logging
    from ppcx.runtime import build_runtime

    configure_logging(role=Role.SWEEPER.value)

    async def main() -> None:
        stop = _stop_on_signals()
        runtime = build_runtime(plan.settings)
        try:
            await runtime.start()
            while not stop.is_set():
                try:
                    await runtime.exchange.sweeper.sweep()
                    await runtime.exchange.key_hygiene.tick_if_due()
                    await runtime.exchange.recorder.tick()
                except Exception:  # logged; the next tick tries again
                    logger.exception("sweep failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SWEEP_INTERVAL_S)
        finally:
            await runtime.close()

    asyncio.run(main())


def webhooks_role(plan: ServePlan) -> None:
    from ppcx.logs import configure_logging

    configure_logging(role=Role.WEBHOOKS.value)
    run_webhooks(plan.settings)


def run_webhooks(settings: Settings) -> None:
    """The delivery worker until SIGTERM or SIGINT (`ppcx webhooks`, or `serve`'s role)."""
    from eventstore.deliveries import FILE_NAME, DeliveryStore
    from eventstore.stream_consumer import StreamSource
    from ppcx.bootstrap import build_domain
    from webhooks.outbound import parse_networks
    from webhooks.worker import DeliveryWorker

    if settings.nats_url is None:
        raise RuntimeError("the webhooks role reads JetStream: PPCX's NATS URL is not set")
    domain = build_domain(settings)
    store = DeliveryStore(settings.resolved_data_dir / FILE_NAME)
    worker = DeliveryWorker(
        domain.app,
        domain.webhooks,
        store,
        domain.clock,
        parse_networks(settings.webhook_allowed_networks),
        domain.webhooks.policy.secret_of,
    )
    source = StreamSource(
        str(settings.nats_url), settings.nats_stream, settings.nats_subject_prefix
    )

    async def main() -> None:
        # once per deployment on PostgreSQL: one worker consumes the durable and sends
        await run_led(
            leader_lock(settings, Role.WEBHOOKS),
            lambda stop: worker.run(source, stop),
            _stop_on_signals(),
        )

    try:
        asyncio.run(main())
    finally:
        store.close()
        domain.close()


def scorer_role(plan: ServePlan) -> None:
    from ppcx.logs import configure_logging

    configure_logging(role=Role.SCORER.value)
    run_scorer(plan.settings)


def run_scorer(settings: Settings) -> None:
    """The lead scorer until SIGTERM or SIGINT (`ppcx score run`, or `serve`'s role)."""
    from eventstore.stream_consumer import StreamSource
    from evidence.models import ModelStore
    from evidence.scorer import Scorer
    from ppcx.bootstrap import build_domain

    if settings.nats_url is None:
        raise RuntimeError("the scorer reads JetStream: PPCX's NATS URL is not set")
    domain = build_domain(settings)
    scorer = Scorer(domain.scoring, ModelStore(settings.resolved_models_dir))
    source = StreamSource(
        str(settings.nats_url), settings.nats_stream, settings.nats_subject_prefix
    )

    async def main() -> None:
        # once per deployment on PostgreSQL: one scorer consumes the durable
        await run_led(
            leader_lock(settings, Role.SCORER),
            lambda stop: scorer.run(source, stop),
            _stop_on_signals(),
        )

    try:
        asyncio.run(main())
    finally:
        domain.close()


def transcriber_role(plan: ServePlan) -> None:
    from ppcx.logs import configure_logging

    configure_logging(role=Role.TRANSCRIBER.value)
    run_transcriber(plan.settings)


def run_transcriber(settings: Settings) -> None:
    """The transcriber until SIGTERM or SIGINT (`ppcx transcriber`, or `serve`'s role)."""
    from eventstore.stream_consumer import StreamSource
    from evidence.transcriber_worker import TranscriberWorker
    from evidence.transcription import Transcriber
    from evidence.transcripts import TranscriptStore
    from handlers.evidence import EvidenceHandlers
    from ppcx.bootstrap import build_domain, recording_store

    if settings.nats_url is None:
        raise RuntimeError("the transcriber role reads JetStream: PPCX's NATS URL is not set")
    domain = build_domain(settings)
    worker = TranscriberWorker(
        domain.app,
        EvidenceHandlers(domain.ctx),
        recording_store(settings),
        TranscriptStore(settings.resolved_transcripts_dir),
        Transcriber(),
    )
    source = StreamSource(
        str(settings.nats_url), settings.nats_stream, settings.nats_subject_prefix
    )

    async def main() -> None:
        # once per deployment on PostgreSQL: one worker consumes the durable
        await run_led(
            leader_lock(settings, Role.TRANSCRIBER),
            lambda stop: worker.run(source, stop),
            _stop_on_signals(),
        )

    try:
        asyncio.run(main())
    finally:
        domain.close()

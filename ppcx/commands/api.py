"""`ppcx serve` (the HTTP API under uvicorn) and `ppcx keys` (API keys from the shell)."""

from __future__ import annotations

import os
import shutil

import typer

from domain.api_key import ROLES
from ppcx.commands.common import configure_logging, console, fail, load_settings
from ppcx.roles import ProjectorSource, Role, ServePlan, default_roles
from ppcx.secrets import audit_key, secret_key
from ppcx.services import ServiceError, ServiceRunner

keys_app = typer.Typer(
    help="API keys: create the first admin key, list keys, revoke a leaked one.",
    no_args_is_help=True,
)
SERVE_STATE = "serve.json"


def serve(
    host: str | None = typer.Option(None, help="bind address (default: PPCX_API_HOST)"),
    port: int | None = typer.Option(None, help="port (default: PPCX_API_PORT)"),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="API worker processes, each on its own SO_REUSEPORT socket "
        "(default: PPCX_API_WORKERS)",
    ),
    role: list[Role] = typer.Option(
        [],
        help="run only these roles (repeatable; default: all of them — api, relay, "
        "projector, sweeper, webhooks; scorer when PPCX_SCORER is on, transcriber when "
        "PPCX_TRANSCRIBER is on)",
    ),
    projector_source: ProjectorSource = typer.Option(
        ProjectorSource.LOG, help="where the projector reads events: the log, or JetStream"
    ),
) -> None:
    """Serve the whole system: the HTTP API's workers, the relay, the projector, the sweeper
    and the webhook delivery worker, supervised together (a dead one is restarted; Ctrl-C or
    SIGTERM stops all). The embedded Redis and NATS are used when none are configured."""
    from prometheus_client import multiprocess

    from ppcx.supervisor import Supervisor
    from ppcx.workers import PortUnavailable, check_port

    configure_logging(role="serve")
    settings = load_settings()
    roles = frozenset(role) or default_roles(settings)
    bind_host, bind_port = host or settings.api_host, port or settings.api_port
    data_dir = settings.resolved_data_dir
    try:
        if Role.API in roles:
            check_port(bind_host, bind_port)
        with ServiceRunner(settings).session() as endpoints:
            metrics_dir = data_dir / "metrics" / f"serve-{os.getpid()}"
            shutil.rmtree(metrics_dir, ignore_errors=True)
            metrics_dir.mkdir(parents=True)
            # prometheus-client reads this at import, in each process: the one variable the
            # roles inherit rather than receive
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
            plan = ServePlan(
                settings=settings.model_copy(
                    update={
                        "data_dir": data_dir,
                        "redis_url": endpoints.redis_url,
                        "nats_url": endpoints.nats_url,
                        "secret_key": secret_key(settings),
                        "audit_key": audit_key(settings),
                        "prometheus_multiproc_dir": metrics_dir,
                    }
                ),
                roles=roles,
                host=bind_host,
                port=bind_port,
                api_workers=workers or settings.api_workers,
                projector_source=projector_source,
            )
            console.print(
                f"serving {', '.join(sorted(r.value for r in roles))}"
                + (f" on http://{bind_host}:{bind_port}" if Role.API in roles else "")
            )
            try:
                code = Supervisor(
                    plan.process_specs(),
                    state_file=data_dir / SERVE_STATE,
                    on_death=lambda pid: multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                        pid, str(metrics_dir)
                    ),
                ).run()
            finally:
                shutil.rmtree(metrics_dir, ignore_errors=True)
    except ServiceError as error:
        raise fail(str(error)) from None
    except PortUnavailable as error:
        raise fail(str(error)) from None
    if code:
        raise typer.Exit(code)


def webhooks() -> None:
    """Deliver webhooks and pixels: read the events from JetStream (a durable consumer), send
    each subscriber its calls' events, retry, record every attempt. `ppcx serve` runs it too."""
    from ppcx.roles import run_webhooks

    configure_logging(role=Role.WEBHOOKS.value)
    settings = load_settings()
    try:
        with ServiceRunner(settings).session() as endpoints:
            run_webhooks(settings.model_copy(update={"nats_url": endpoints.nats_url}))
    except ServiceError as error:
        raise fail(str(error)) from None


def transcriber() -> None:
    """Transcribe recorded calls offline (PocketSphinx), redact card and SSN digits, store the
    transcripts and record their hashes and the campaign's phrases spotted: a durable
    JetStream consumer of `Call.CallRecorded`. `ppcx serve` runs it with PPCX_TRANSCRIBER."""
    from ppcx.roles import run_transcriber

    configure_logging(role=Role.TRANSCRIBER.value)
    settings = load_settings()
    try:
        with ServiceRunner(settings).session() as endpoints:
            run_transcriber(settings.model_copy(update={"nats_url": endpoints.nats_url}))
    except ServiceError as error:
        raise fail(str(error)) from None


@keys_app.command("create")
def create_key(
    role: str = typer.Option(..., help=f"one of: {', '.join(ROLES)}"),
    owner: str | None = typer.Option(None, help="the publisher or buyer id the key acts for"),
    label: str = typer.Option("", help="a note to recognise the key by"),
) -> None:
    """Issue an API key and print it once (only its keyed hash is stored)."""
    from api.keys import KeyHasher
    from domain.errors import DomainError, ValidationError
    from handlers import parse
    from ppcx.bootstrap import build_domain
    from ppcx.secrets import secret_key

    try:
        parse.valid_role(role)
    except ValidationError as error:
        raise fail(f"--{error.message}", code=2) from None
    settings = load_settings()
    domain = build_domain(settings)
    try:
        issued = KeyHasher(secret_key(settings)).issue()
        command = parse.issue_api_key(
            role=role,
            owner_id=owner,
            label=label,
            key_hash=issued.key_hash,
            key_id=issued.key_id,
            by="cli",
        )
        key_id = domain.setup.issue_api_key(command)
    except DomainError as error:
        raise fail(error.message) from None
    finally:
        domain.close()
    console.print(f"key id  {key_id}\nrole    {role}" + (f"\nowner   {owner}" if owner else ""))
    console.print("api key (shown once, store it now):", style="bold")
    print(issued.api_key)  # plain stdout: easy to capture in a script


@keys_app.command("revoke")
def revoke_key(key_id: str = typer.Argument(..., help="the key's id (key_…)")) -> None:
    """Revoke a key: the API refuses it from the next request on."""
    from domain.errors import DomainError
    from handlers import parse
    from ppcx.bootstrap import build_domain

    domain = build_domain(load_settings())
    try:
        domain.setup.revoke_api_key(parse.revoke_api_key(key_id=key_id, by="cli"))
    except DomainError as error:
        raise fail(error.message) from None
    finally:
        domain.close()
    console.print(f"revoked {key_id}")

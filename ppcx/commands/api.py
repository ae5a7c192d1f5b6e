"""`ppcx serve` (the HTTP API under uvicorn) and `ppcx keys` (API keys from the shell)."""

from __future__ import annotations

import os
from typing import Any

import typer

from domain.api_key import ROLES
from ppcx.commands.common import configure_logging, console, fail, load_settings
from ppcx.services import ServiceError, ServiceRunner

keys_app = typer.Typer(
    help="API keys: create the first admin key, revoke a leaked one.", no_args_is_help=True
)
APP_FACTORY = "ppcx.web:app_from_environment"


def serve(
    host: str | None = typer.Option(None, help="bind address (default: PPCX_API_HOST)"),
    port: int | None = typer.Option(None, help="port (default: PPCX_API_PORT)"),
    workers: int | None = typer.Option(
        None,
        min=1,
        help="worker processes, each on its own SO_REUSEPORT socket (default: PPCX_API_WORKERS)",
    ),
) -> None:
    """Serve the HTTP API (starts the embedded Redis and NATS when none are configured, and
    stops them on exit)."""
    import uvicorn

    from ppcx.workers import PortUnavailable, run_workers

    configure_logging()
    settings = load_settings()
    try:
        with ServiceRunner(settings).session() as endpoints:
            # the workers build their settings from the environment: hand them the services
            os.environ["REDIS_URL"] = endpoints.redis_url
            os.environ["NATS_URL"] = endpoints.nats_url
            os.environ["PPCX_DATA_DIR"] = str(settings.resolved_data_dir)
            options: dict[str, Any] = {
                "access_log": False,  # URLs may carry an RTB `api_key`: never log them
                "log_config": None,
                "timeout_graceful_shutdown": 5,
            }
            count = workers or settings.api_workers
            bind_host, bind_port = host or settings.api_host, port or settings.api_port
            if count == 1:
                uvicorn.run(APP_FACTORY, factory=True, host=bind_host, port=bind_port, **options)
                return
            code = run_workers(APP_FACTORY, bind_host, bind_port, count, options)
    except ServiceError as error:
        raise fail(str(error)) from None
    except PortUnavailable as error:
        raise fail(str(error)) from None
    if code:
        raise typer.Exit(code)


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

"""docker-compose.yml cannot run on this machine; keep it honest by parsing it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
import yaml

from ppcx.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict[str, dict[str, object]]:
    document = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = document["services"]
    assert isinstance(services, dict)
    return services


def test_production_shape_is_complete() -> None:
    services = _compose()
    assert {
        "postgres",
        "redis",
        "nats",
        "api",
        "relay",
        "projector",
        "sweeper",
        "webhooks",
    } <= services.keys()
    assert "-js" in services["nats"]["command"]  # type: ignore[operator]
    for name in ("postgres", "redis", "nats", "api"):
        assert "healthcheck" in services[name], name


def test_every_ppcx_service_runs_an_existing_subcommand_with_valid_options() -> None:
    cli = typer.main.get_command(app)
    built = {name: s for name, s in _compose().items() if "build" in s}
    assert set(built) == {"api", "relay", "projector", "sweeper", "webhooks", "transcriber"}
    for name, service in built.items():
        args = service["command"]
        assert isinstance(args, list), name
        assert args, name
        context = cli.make_context("ppcx", list(args))
        subcommand_name, command, rest = cli.resolve_command(context, list(args))
        assert command is not None, name
        assert subcommand_name == args[0], name
        # parsing the options raises on an unknown option or a bad value
        command.make_context(args[0], rest)
        env = service["environment"]
        assert isinstance(env, dict)
        assert env["PERSISTENCE_MODULE"] == "eventsourcing.postgres", name
        assert env["REDIS_URL"].startswith("redis://redis:"), name
        assert env["NATS_URL"].startswith("nats://nats:"), name


def test_dockerfile_entrypoint_is_ppcx() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["ppcx"]' in dockerfile
    for package in (
        "ppcx",
        "domain",
        "eventstore",
        "handlers",
        "exchange",
        "projections",
        "api",
        "replay",
    ):
        assert f"COPY {package} {package}" in dockerfile


def test_each_role_runs_as_a_service_of_its_own() -> None:
    """The roles `ppcx serve` supervises together, one per service (a relay that exits and
    restarts forever was a one-off command without --follow)."""
    built = {name: s for name, s in _compose().items() if "build" in s}
    for name, service in built.items():
        args = service["command"]
        assert isinstance(args, list)
        assert args[:3] == ["serve", "--role", name], name
        assert service.get("restart") == "unless-stopped", name


def test_the_env_example_names_every_variable_compose_requires() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    example = (ROOT / ".env.example").read_text()
    for variable in ("POSTGRES_PASSWORD", "PPCX_SECRET_KEY", "PPCX_AUDIT_KEY"):
        assert "${" + variable in compose
        assert f"\n{variable}=" in example, variable

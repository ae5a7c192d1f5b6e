"""docker-compose.hosts.yml (several PPCX hosts on one PostgreSQL) cannot run here either:
keep it honest by parsing it."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer.main
import yaml

from ppcx.cli import app

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def test_hosts_run_every_role_on_the_shared_store() -> None:
    services = yaml.safe_load((ROOT / "docker-compose.hosts.yml").read_text())["services"]
    base = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    host = services["host"]
    args = host["command"]
    cli = typer.main.get_command(app)
    context = cli.make_context("ppcx", list(args))
    name, command, rest = cli.resolve_command(context, list(args))
    assert command is not None
    assert name == "serve"
    command.make_context(name, rest)  # raises on an unknown option or a bad value
    # every role on every host (no --role): the relay and webhooks elect a leader
    assert "--role" not in args
    # the single role services are all off
    assert {n for n, s in services.items() if s.get("profiles") == ["single"]} == {
        "api",
        "relay",
        "projector",
        "sweeper",
        "webhooks",
        "transcriber",
    }
    env = host["environment"]
    for variable in ("PERSISTENCE_MODULE", "POSTGRES_HOST", "REDIS_URL", "NATS_URL"):
        assert env[variable] == base["api"]["environment"][variable], variable
    assert env["PPCX_DATA_DIR"] != base["api"]["environment"]["PPCX_DATA_DIR"]
    assert host["restart"] == "unless-stopped"
    assert "healthcheck" in host

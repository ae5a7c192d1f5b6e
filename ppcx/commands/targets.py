"""`ppcx targets set`: change a target's rules from the command line, through the same parsing
and handler as `PATCH /v1/targets/{id}` (the running exchange follows the log within a tick)."""

from __future__ import annotations

import orjson
import typer

from ppcx.commands.common import fail, load_settings

targets_app = typer.Typer(help="Targets: change their rules.", no_args_is_help=True)


@targets_app.command("set")
def set_target(
    target_id: str = typer.Argument(..., help="the target's id (tgt_…)"),
    bid: str | None = typer.Option(None, help="a standing bid, e.g. 12.00 (clears an rtb_url)"),
    rtb_url: str | None = typer.Option(None, help="a real-time endpoint (clears the bid)"),
    destination: str | None = typer.Option(None, help="E.164 number or SIP URI"),
    name: str | None = typer.Option(None),
    buffer_s: int | None = typer.Option(None, help="minimum billable duration in seconds"),
    priority: int | None = typer.Option(None),
    weight: int | None = typer.Option(None),
    paused: bool | None = typer.Option(None, "--paused/--active", help="pause or resume"),
) -> None:
    """Change the rules given; print the target as it is after (JSON). Every bad option is
    named; nothing is recorded on an error or when nothing changes."""
    from api.setup_views import target_view
    from domain.errors import DomainError, InvalidFields
    from handlers import parse_changes
    from ppcx.bootstrap import build_domain

    status = None if paused is None else ("paused" if paused else "active")
    try:
        command = parse_changes.change_target(
            target_id=target_id,
            by="cli",
            bid=bid,
            rtb_url=rtb_url,
            destination=destination,
            name=name,
            buffer_s=buffer_s,
            priority=priority,
            weight=weight,
            status=status,
        )
    except InvalidFields as error:
        raise fail("; ".join(f"--{e.field}: {e.message}" for e in error.errors), code=2) from None
    except DomainError as error:
        raise fail(error.message) from None
    domain = build_domain(load_settings())
    try:
        target = domain.setup.change_target(command)
    except DomainError as error:
        raise fail(error.message) from None
    finally:
        domain.close()
    print(orjson.dumps(target_view(target), option=orjson.OPT_INDENT_2).decode())

"""The composition root: builds the object graph from settings. Nothing else wires things."""

from __future__ import annotations

from dataclasses import dataclass, field

from domain.application import PPCXApplication
from domain.chain import chain_key
from domain.clock import Clock, SystemClock
from domain.handlers.calls import CallHandlers
from domain.handlers.context import HandlerContext
from domain.handlers.setup import SetupHandlers
from domain.writer import EventWriter
from ppcx.secrets import audit_key
from ppcx.settings import Settings


@dataclass
class Domain:
    """The event-sourced core: the application, its writer and the command handlers."""

    app: PPCXApplication
    writer: EventWriter
    ctx: HandlerContext
    setup: SetupHandlers
    calls: CallHandlers
    clock: Clock = field(default_factory=SystemClock)

    def close(self) -> None:
        self.writer.close()
        self.app.close()


def build_application(settings: Settings) -> PPCXApplication:
    settings.resolved_data_dir.mkdir(parents=True, exist_ok=True)
    return PPCXApplication(env=settings.eventstore_env(), chain_key=chain_key(audit_key(settings)))


def build_domain(
    settings: Settings, *, clock: Clock | None = None, group_commit: bool = False
) -> Domain:
    clock = clock or SystemClock()
    app = build_application(settings)
    writer = EventWriter(app, group_commit=group_commit)
    ctx = HandlerContext(app=app, writer=writer, clock=clock)
    return Domain(
        app=app,
        writer=writer,
        ctx=ctx,
        setup=SetupHandlers(ctx),
        calls=CallHandlers(ctx),
        clock=clock,
    )

"""Webhook subscriptions: register, change (pause, resume), rotate the secret, remove.

The deployment's outbound policy (which URLs and addresses a webhook may name) and its secret
(from which each webhook's signing secret is derived) come from the composition root: this
layer sits below the `webhooks` package and knows neither."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain.base import PPCXAggregate
from domain.commands import ChangeWebhook, RegisterWebhook, RemoveWebhook, RotateWebhookSecret
from domain.errors import NotFound
from domain.ids import new_id
from domain.webhook import Webhook, WebhookMethod
from handlers.unit_of_work import HandlerContext


@dataclass(frozen=True)
class WebhookPolicy:
    # (url, method) -> the url, or ValidationError naming `url`: its form, and the address of
    # an IP-literal host against the allowed networks (webhooks.outbound)
    check_url: Callable[[object, str], str]
    # (webhook id, secret version) -> the signing secret (webhooks.secrets)
    secret_of: Callable[[str, int], str]


class WebhookHandlers:
    def __init__(self, ctx: HandlerContext, policy: WebhookPolicy) -> None:
        self.ctx = ctx
        self.app = ctx.app
        self.policy = policy

    def secret(self, webhook: Webhook) -> str:
        """The webhook's signing secret now (shown when it is made or rotated)."""
        return self.policy.secret_of(webhook.id, webhook.secret_version)

    def get(self, webhook_id: str, owner_id: str | None) -> Webhook:
        """A webhook the owner may see (None: any); unknown, removed and another owner's
        are the same NotFound."""
        found = self.app.find(Webhook, webhook_id)
        if found is None or found.removed or (owner_id is not None and found.owner_id != owner_id):
            raise NotFound(f"webhook_id {webhook_id!r} does not exist", field="webhook_id")
        return found

    def register(self, cmd: RegisterWebhook) -> Webhook:
        url = self.policy.check_url(cmd.url, cmd.method)
        webhook_id = new_id("whk")

        def change() -> tuple[list[PPCXAggregate], Webhook]:
            webhook = Webhook(
                id=webhook_id,
                owner_role=cmd.owner_role.value,
                owner_id=cmd.owner_id,
                url=url,
                method=cmd.method,
                events=list(cmd.events),
                description=cmd.description,
                by=cmd.by,
                timestamp=self.ctx.now(),
            )
            return [webhook], webhook

        return self.ctx.run(change)

    def change(self, cmd: ChangeWebhook) -> Webhook:
        """The fields given; the URL is checked with the method the webhook is left with.
        A change that changes nothing records nothing."""

        if cmd.url is not None:  # the body before the path's id: GET's rules are the looser
            self.policy.check_url(cmd.url, cmd.method or WebhookMethod.GET)

        def change() -> tuple[list[PPCXAggregate], Webhook]:
            webhook = self.get(cmd.webhook_id, cmd.owner_id)
            at = self.ctx.now()
            method = cmd.method or webhook.method
            url = self.policy.check_url(cmd.url or webhook.url, method)
            events = list(cmd.events) if cmd.events is not None else webhook.events
            description = webhook.description if cmd.description is None else cmd.description
            if (url, method, events, description) != (
                webhook.url,
                webhook.method,
                webhook.events,
                webhook.description,
            ):
                webhook.change(url, method, events, description, by=cmd.by, timestamp=at)
            if cmd.paused is True and not webhook.paused:
                webhook.pause(reason="", by=cmd.by, timestamp=at)
            elif cmd.paused is False and webhook.paused:
                webhook.resume(by=cmd.by, timestamp=at)
            return [webhook], webhook

        return self.ctx.run(change)

    def pause_failing(self, webhook_id: str, reason: str, by: str) -> bool:
        """Pause a webhook whose deliveries keep failing, saying why (the delivery worker's
        call; its owner resumes it) → False when it is paused or removed already."""

        def change() -> tuple[list[PPCXAggregate], bool]:
            webhook = self.app.find(Webhook, webhook_id)
            if webhook is None or webhook.removed or webhook.paused:
                return [], False
            webhook.pause(reason=reason, by=by, timestamp=self.ctx.now())
            return [webhook], True

        return self.ctx.run(change)

    def rotate_secret(self, cmd: RotateWebhookSecret) -> Webhook:
        def change() -> tuple[list[PPCXAggregate], Webhook]:
            webhook = self.get(cmd.webhook_id, cmd.owner_id)
            webhook.rotate_secret(
                version=webhook.secret_version + 1, by=cmd.by, timestamp=self.ctx.now()
            )
            return [webhook], webhook

        return self.ctx.run(change)

    def remove(self, cmd: RemoveWebhook) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            webhook = self.get(cmd.webhook_id, cmd.owner_id)
            webhook.remove(by=cmd.by, timestamp=self.ctx.now())
            return [webhook], None

        return self.ctx.run(change)

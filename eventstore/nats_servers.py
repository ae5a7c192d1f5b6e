"""The NATS URL setting (`NATS_URL`): one server, or several comma-separated — the seeds of a
NATS cluster. Every NATS connection of the runtime (the relay, the projector, the webhook
worker, readiness, replay's checkpoint look-up) dials the whole list, so it starts while any
listed node answers; once connected, nats-py also learns the cluster's other nodes from the
server and reconnects to whichever is up.

Here, not in `projections` or `webhooks`, because both read JetStream and neither may import
the other; the module is plain text handling, no client."""

from __future__ import annotations

from urllib.parse import urlsplit


def nats_servers(url: str) -> list[str]:
    """ "nats://a:4222, nats://b:4222" → ["nats://a:4222", "nats://b:4222"] (one URL → a
    list of one); a list with no URL in it is an error, not a default server."""
    servers = [part.strip() for part in url.split(",") if part.strip()]
    if not servers:
        raise ValueError("the NATS URL names no server")
    return servers


def nats_where(url: str) -> str:
    """The servers' host:port, for a message ("127.0.0.1:4222,127.0.0.1:4223"), without any
    user or password a URL carries."""
    return ",".join(urlsplit(server).netloc.rpartition("@")[2] for server in nats_servers(url))

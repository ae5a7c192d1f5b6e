"""One attempt to send a delivery: resolve the endpoint's host, refuse it unless every address
is allowed (`webhooks.outbound`), then connect to the address that was checked (so a resolver
answering differently a moment later cannot send us elsewhere), with the host's name in the
`Host` header and TLS's SNI, within a deadline. Redirects are not followed."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from ipaddress import IPv6Address
from urllib.parse import urlsplit, urlunsplit

import httpx

from domain.webhook import WebhookMethod
from eventstore.deliveries import EXCERPT_BYTES_MAX, DeliveryRow
from webhooks.deliveries import AttemptResult, body_of
from webhooks.outbound import Address, Network, address_allowed, ip_address_of
from webhooks.pixels import fill
from webhooks.retry import AttemptError
from webhooks.signing import signed

REQUEST_TIMEOUT_S = 10.0  # an attempt's whole deadline: resolving, connecting, answering
RESOLVE_TIMEOUT_S = 5.0


class Refused(Exception):
    """The endpoint's host resolves to an address delivery may not reach (or to none)."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where a webhook's deliveries go, and how."""

    method: str  # WebhookMethod
    url: str  # a GET's: the pixel template
    role: str  # the owner's (a pixel's buyer-only tokens)
    secret: str  # signs a POST


async def send(
    client: httpx.AsyncClient,
    endpoint: Endpoint,
    delivery: DeliveryRow,
    at: datetime,
    allowed: tuple[Network, ...],
) -> AttemptResult:
    """One attempt of `delivery`: a POST signed at `at`, or a GET of the filled pixel."""
    if endpoint.method == WebhookMethod.GET:
        url = fill(endpoint.url, body_of(delivery), endpoint.role)
        return await attempt(client, "GET", url, {}, None, allowed)
    headers = signed(endpoint.secret, delivery.id, at, delivery.body)
    return await attempt(client, "POST", endpoint.url, headers, delivery.body, allowed)


async def resolve(host: str, port: int, allowed: tuple[Network, ...]) -> Address:
    """The first address of `host`, once every one it resolves to is allowed."""
    literal = ip_address_of(host)
    if literal is not None:
        addresses = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), RESOLVE_TIMEOUT_S
            )
        except (OSError, TimeoutError) as error:
            raise Refused(f"{host} does not resolve ({type(error).__name__})") from None
        addresses = [a for a in (ip_address_of(str(i[4][0])) for i in infos) if a is not None]
    if not addresses:
        raise Refused(f"{host} resolves to no address")
    for address in addresses:
        if not address_allowed(address, allowed):
            raise Refused(f"{host} resolves to {address}, which webhooks may not reach")
    return addresses[0]


async def attempt(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    allowed: tuple[Network, ...],
) -> AttemptResult:
    started = time.monotonic()

    def took_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        address = await resolve(host, port, allowed)
    except Refused as refused:
        return AttemptResult(AttemptError.CONNECTION, took_ms(), b"", refused=str(refused))
    shown = f"[{address}]" if isinstance(address, IPv6Address) else str(address)
    pinned = urlunsplit(parts._replace(netloc=f"{shown}:{port}"))
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    request = client.build_request(
        method,
        pinned,
        headers={**headers, "host": parts.netloc},
        content=body,
        extensions={**extensions, "timeout": httpx.Timeout(REQUEST_TIMEOUT_S).as_dict()},
    )
    try:
        async with asyncio.timeout(REQUEST_TIMEOUT_S):
            response = await client.send(request, stream=True, follow_redirects=False)
            try:
                excerpt = await _excerpt(response)
            finally:
                await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return AttemptResult(AttemptError.TIMEOUT, took_ms(), b"")
    except httpx.HTTPError:
        return AttemptResult(AttemptError.CONNECTION, took_ms(), b"")
    return AttemptResult(
        response.status_code, took_ms(), excerpt, retry_after=response.headers.get("retry-after")
    )


async def _excerpt(response: httpx.Response) -> bytes:
    """The body's first bytes (the rest is not read)."""
    kept = b""
    async for chunk in response.aiter_raw():
        kept += chunk
        if len(kept) >= EXCERPT_BYTES_MAX:
            break
    return kept[:EXCERPT_BYTES_MAX]

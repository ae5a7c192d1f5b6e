"""Where webhooks and pixels may be sent: the URL's form, and which addresses are reachable.

Public addresses are; loopback, private, link-local, multicast, reserved and unspecified ones
are refused unless inside a network the deployment allows (`webhook_allowed_networks`), so a
subscriber cannot aim the exchange at its own internals. At registration an IP-literal host is
checked here; a DNS name is checked when it is resolved, at delivery. Pure: no I/O."""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from urllib.parse import urlsplit

from domain.errors import ValidationError
from domain.limits import WEBHOOK_URL_LENGTH
from domain.webhook import WebhookMethod
from webhooks.pixels import TOKENS as PIXEL_FILLERS

Address = IPv4Address | IPv6Address
Network = IPv4Network | IPv6Network
SCHEMES = frozenset({"http", "https"})
# a pixel's tokens (API.md "Webhooks and pixels"): those `webhooks.pixels` fills
PIXEL_TOKENS = frozenset(PIXEL_FILLERS)
_TOKEN = re.compile(r"\{([a-z_]+)\}")
_HARMLESS = "x"  # what a token stands for while the template is checked as a URL


def _refuse(message: str) -> ValidationError:
    return ValidationError(message, field="url")


def check_url(url: object, method: str) -> str:
    """The URL as written, or ValidationError naming `url`: http or https, a host, no
    credentials, no fragment, at most `WEBHOOK_URL_LENGTH.maximum` characters, printable without
    blanks. A GET (pixel) URL may hold `{token}` placeholders in its path and query."""
    if not isinstance(url, str) or not url:
        raise _refuse("url must be an http or https URL")
    if len(url) > WEBHOOK_URL_LENGTH.maximum:
        raise _refuse(f"url must be at most {WEBHOOK_URL_LENGTH.maximum} characters")
    if not url.isascii() or not url.isprintable() or any(c.isspace() for c in url):
        raise _refuse("url must be printable ASCII without blanks (percent-encode the rest)")
    concrete = _fill(url) if method == WebhookMethod.GET else url
    if "{" in concrete or "}" in concrete:
        raise _refuse(_braces_message(method))
    try:
        parts = urlsplit(concrete)
        parts.port  # noqa: B018 - a port out of range or not a number raises here
    except ValueError:
        raise _refuse("url is not a valid URL") from None
    if parts.scheme not in SCHEMES:
        raise _refuse("url must be an http or https URL")
    if "@" in parts.netloc:
        raise _refuse("url must not hold credentials (user:password@)")
    if not parts.hostname:
        raise _refuse("url must name a host")
    if "#" in concrete:
        raise _refuse("url must not have a fragment (#…)")
    if "{" in urlsplit(url).netloc:
        raise _refuse("a pixel's placeholders go in its path or query, not its host")
    _check_literal_form(parts.hostname)
    return url


def _fill(url: str) -> str:
    def one(match: re.Match[str]) -> str:
        if match.group(1) not in PIXEL_TOKENS:
            raise _refuse(f"url has an unknown placeholder {{{match.group(1)}}}")
        return _HARMLESS

    return _TOKEN.sub(one, url)


def _braces_message(method: str) -> str:
    if method == WebhookMethod.GET:
        return "url has a brace that is not a placeholder such as {call_id}"
    return "url must not hold braces: placeholders are for GET (pixel) webhooks"


def _check_literal_form(host: str) -> None:
    """An address written other than canonically (`127.1`, `2130706433`, `0x7f.0.0.1`) is
    refused: resolvers take it as an address that would escape the checks."""
    if ip_address_of(host) is None:
        try:
            socket.inet_aton(host)
        except OSError:
            return
        raise _refuse("url's host is an address not written as a.b.c.d")


def ip_address_of(host: str) -> Address | None:
    """The address an IP-literal host names (None: a DNS name)."""
    try:
        return ip_address(host)
    except ValueError:
        return None


def parse_networks(text: str) -> tuple[Network, ...]:
    """Comma-separated CIDRs (`127.0.0.0/8, 10.1.0.0/16`); ValueError on a bad one."""
    networks = []
    for part in text.split(","):
        cidr = part.strip()
        if cidr:
            try:
                networks.append(ip_network(cidr, strict=True))
            except ValueError as error:
                raise ValueError(f"webhook_allowed_networks: {cidr!r}: {error}") from None
    return tuple(networks)


def address_allowed(ip: Address, allowed: Sequence[Network]) -> bool:
    """A public address, or one inside an allowed network. An IPv4-mapped IPv6 address
    (`::ffff:127.0.0.1`) is judged as the IPv4 address it carries."""
    candidates: list[Address] = [ip]
    if isinstance(ip, IPv6Address) and ip.ipv4_mapped is not None:
        candidates.append(ip.ipv4_mapped)
    if any(c in network for c in candidates for network in allowed):
        return True
    return all(_public(c) for c in candidates)


def _public(ip: Address) -> bool:
    internal = (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, IPv6Address) and ip.is_site_local)
    )
    return ip.is_global and not internal


@dataclass(frozen=True)
class OutboundPolicy:
    """The deployment's rule for registering a webhook URL: its form, and an IP-literal
    host's address against the allowed networks."""

    allowed: tuple[Network, ...] = ()

    def check(self, url: object, method: str) -> str:
        checked = check_url(url, method)
        host = urlsplit(_fill(checked) if method == WebhookMethod.GET else checked).hostname
        ip = ip_address_of(host or "")
        if ip is not None and not address_allowed(ip, self.allowed):
            raise _refuse(
                f"url's host {ip} is not a public address (loopback, private, link-local, "
                "multicast and reserved ranges are refused)"
            )
        return checked

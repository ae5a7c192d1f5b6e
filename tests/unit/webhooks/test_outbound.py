"""webhooks.outbound: which URLs a webhook may name and which addresses it may reach."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import ValidationError
from domain.limits import WEBHOOK_URL_LENGTH
from webhooks.outbound import OutboundPolicy, address_allowed, check_url, parse_networks

INTERNAL_V4 = [
    "127.0.0.0/8",
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "169.254.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
    "0.0.0.0/8",
    "100.64.0.0/10",
]
INTERNAL_V6 = ["::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "::/128"]


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/ppcx",
        "http://hooks.example.com:8080/a?b=c",
        "https://93.184.216.34/x",
    ],
)
def test_http_and_https_urls_are_taken_as_written(url: str) -> None:
    assert check_url(url, "POST") == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.com/x", "http or https"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://user@example.com/x", "credentials"),
        ("https:///path-only", "host"),
        ("https://example.com/x#frag", "fragment"),
        ("https://example.com/a b", "blanks"),
        ("https://example.com:99999/", "valid URL"),
        ("https://127.1/", "a.b.c.d"),
        ("https://2130706433/", "a.b.c.d"),
        ("https://example.com/{call_id}", "braces"),
        ("", "http or https"),
    ],
)
def test_bad_urls_are_refused_naming_url(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why) as refused:
        check_url(url, "POST")
    assert refused.value.field == "url"


def test_a_url_over_the_limit_is_refused() -> None:
    url = "https://example.com/" + "a" * WEBHOOK_URL_LENGTH.maximum
    with pytest.raises(ValidationError, match="at most"):
        check_url(url, "POST")


def test_a_url_that_is_not_text_is_refused() -> None:
    with pytest.raises(ValidationError):
        check_url(42, "POST")


def test_a_pixel_may_hold_known_placeholders_in_its_path_and_query() -> None:
    url = "https://px.example.com/c/{call_id}?e={event}&p={payout}"
    assert check_url(url, "GET") == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("https://px.example.com/{secret}", "unknown placeholder"),
        ("https://{source}.example.com/", "not its host"),
        ("https://px.example.com/{call_id", "brace"),
    ],
)
def test_a_pixel_placeholder_must_be_known_and_outside_the_host(url: str, why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        check_url(url, "GET")


def test_networks_parse_from_comma_separated_cidrs() -> None:
    assert parse_networks(" 127.0.0.0/8, 10.1.0.0/16 ,") == parse_networks(
        "127.0.0.0/8,10.1.0.0/16"
    )
    assert len(parse_networks("127.0.0.0/8, ::1/128")) == 2
    assert parse_networks("") == ()


def test_a_bad_network_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="webhook_allowed_networks"):
        parse_networks("127.0.0.1/8")


@pytest.mark.parametrize("address", ["127.0.0.1", "10.0.0.5", "192.168.1.1", "169.254.169.254"])
def test_internal_addresses_are_refused_by_default(address: str) -> None:
    assert not address_allowed(ip_address(address), ())


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_allowed(ip_address(address), ())


def test_an_allowed_network_admits_its_addresses_only() -> None:
    allowed = parse_networks("127.0.0.0/8")
    assert address_allowed(ip_address("127.0.0.1"), allowed)
    assert address_allowed(ip_address("::ffff:127.0.0.1"), allowed)
    assert not address_allowed(ip_address("10.0.0.1"), allowed)
    assert not address_allowed(ip_address("::1"), allowed)


def test_an_ipv4_mapped_address_is_judged_as_its_ipv4_address() -> None:
    assert not address_allowed(ip_address("::ffff:127.0.0.1"), ())
    assert not address_allowed(ip_address("::ffff:10.0.0.1"), ())


def _in(cidr: str) -> st.SearchStrategy[IPv4Address | IPv6Address]:
    network = ip_network(cidr)
    return st.integers(0, network.num_addresses - 1).map(
        lambda offset: ip_address(int(network.network_address) + offset)
    )


@given(st.one_of(*[_in(c) for c in INTERNAL_V4 + INTERNAL_V6]))
def test_no_internal_address_is_ever_allowed_by_default(ip: IPv4Address | IPv6Address) -> None:
    assert not address_allowed(ip, ())
    if isinstance(ip, IPv4Address):
        assert not address_allowed(IPv6Address(f"::ffff:{ip}"), ())


@given(st.one_of(*[_in(c) for c in INTERNAL_V4]))
def test_the_policy_refuses_an_internal_ip_literal_host(ip: IPv4Address) -> None:
    with pytest.raises(ValidationError, match="not a public address"):
        OutboundPolicy().check(f"https://{ip}/hook", "POST")


def test_the_policy_admits_an_internal_ip_literal_in_an_allowed_network() -> None:
    policy = OutboundPolicy(parse_networks("127.0.0.0/8"))
    assert policy.check("http://127.0.0.1:8080/hook", "POST") == "http://127.0.0.1:8080/hook"


def test_the_policy_checks_a_bracketed_ipv6_host() -> None:
    with pytest.raises(ValidationError, match="not a public address"):
        OutboundPolicy().check("https://[::1]:8443/hook", "POST")


def test_the_policy_leaves_dns_names_to_delivery() -> None:
    assert OutboundPolicy().check("https://localhost/hook", "POST") == "https://localhost/hook"

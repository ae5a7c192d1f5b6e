"""Pixels: a URL template filled, URL-encoded, from the recipient's own webhook body."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import given, settings

from domain.api_key import Role
from domain.errors import ValidationError
from tests.unit.webhooks.stories import BUYERS, CALL_ID, PUBLISHER, Story, build, stories
from webhooks.payloads import Payload, Recipient, payload
from webhooks.pixels import TOKENS, check_template, fill

pytestmark = pytest.mark.unit

EVERY_TOKEN = "https://px.example/p?" + "&".join(f"{t}={{{t}}}" for t in TOKENS)
FULL = build(Story())
BILLED = next(i for i, (topic, _) in enumerate(FULL) if topic.endswith("CallBilled"))


def _body(role: Role, owner: str | None, index: int = BILLED) -> Payload:
    body = payload("wh_1", CALL_ID, Recipient(role, owner), FULL, index)
    assert body is not None
    return body


def _query(url: str) -> dict[str, str]:
    pairs = (pair.partition("=") for pair in url.partition("?")[2].split("&"))
    return {name: unquote(value) for name, _, value in pairs}


def test_every_token_is_known() -> None:
    assert set(TOKENS) == {
        "call_id",
        "event",
        "campaign_id",
        "publisher_id",
        "source",
        "keyword",
        "click_id",
        "payout",
        "revenue",
        "duration_s",
        "state",
        "zip",
    }
    assert check_template(EVERY_TOKEN) == EVERY_TOKEN


@pytest.mark.parametrize(
    "url",
    [
        "https://px.example/p?x={caller_number}",
        "https://px.example/p?x={Call_id}",
        "https://px.example/p?x={}",
        "https://px.example/p?x={call_id",
        "https://px.example/p?x=call_id}",
        "https://{publisher_id}.px.example/p",
        "https://px.example:{zip}/p",
        "{event}://px.example/p",
    ],
)
def test_a_bad_template_is_refused(url: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_template(url)
    assert refused.value.field == "url"


def test_a_publishers_pixel_has_its_facts_and_no_revenue() -> None:
    url = fill(EVERY_TOKEN, _body(Role.PUBLISHER, PUBLISHER), Role.PUBLISHER)
    values = _query(url)
    assert values == {
        "call_id": CALL_ID,
        "event": "call.billed",
        "campaign_id": "cmp_1",
        "publisher_id": PUBLISHER,
        "source": "google",
        "keyword": "car accident lawyer",
        "click_id": "gclid 1/2&x",
        "payout": "29.00",
        "revenue": "",
        "duration_s": "125",
        "state": "CA",
        "zip": "90210",
    }
    assert "keyword=car%20accident%20lawyer" in url
    assert "click_id=gclid%201%2F2%26x" in url


def test_a_buyers_pixel_has_its_revenue_and_not_the_publisher() -> None:
    values = _query(fill(EVERY_TOKEN, _body(Role.BUYER, "buy_b"), Role.BUYER))
    assert values["revenue"] == "44.00"
    assert values["payout"] == ""
    assert values["publisher_id"] == ""
    assert values["keyword"] == ""
    assert values["click_id"] == ""
    assert values["state"] == "CA"


def test_an_admins_pixel_has_both() -> None:
    values = _query(fill(EVERY_TOKEN, _body(Role.ADMIN, None), Role.ADMIN))
    assert values["revenue"] == "44.00"
    assert values["payout"] == "29.00"


def test_revenue_is_never_filled_for_a_publisher_whatever_the_body() -> None:
    admins = _body(Role.ADMIN, None)  # a body with revenue in it
    assert _query(fill(EVERY_TOKEN, admins, Role.PUBLISHER))["revenue"] == ""


def test_a_token_without_a_value_is_empty() -> None:
    answered = next(i for i, (t, _) in enumerate(FULL) if t.endswith("CallAnswered"))
    values = _query(fill(EVERY_TOKEN, _body(Role.PUBLISHER, PUBLISHER, answered), Role.PUBLISHER))
    assert values["event"] == "call.answered"
    assert values["payout"] == ""
    assert values["duration_s"] == ""


def test_filling_refuses_an_unknown_token() -> None:
    with pytest.raises(ValidationError):
        fill("https://px.example/?n={caller}", _body(Role.ADMIN, None), Role.ADMIN)


@settings(max_examples=40, deadline=None)
@given(stories)
def test_a_publishers_pixel_never_names_a_buyer(story: Story) -> None:
    events = build(story)
    for index in range(len(events)):
        body = payload("wh_1", CALL_ID, Recipient(Role.PUBLISHER, PUBLISHER), events, index)
        if body is None:
            continue
        url = fill(EVERY_TOKEN, body, Role.PUBLISHER)
        assert _query(url)["revenue"] == ""
        for buyer in BUYERS:
            assert buyer not in url

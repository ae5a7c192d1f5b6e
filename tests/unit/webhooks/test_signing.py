"""Signed headers, checked by the Standard Webhooks reference library itself."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from domain.invariant import InvariantViolation
from webhooks.secrets import secret_for
from webhooks.signing import signed

pytestmark = pytest.mark.unit

SECRET = secret_for("deployment-secret", "wh_1", 1)
BODY = b'{"id":"msg_1","type":"call.billed","data":{"payout":"29.00","note":"caf\xc3\xa9"}}'


def test_the_specifications_example_signs_the_same() -> None:
    # the Standard Webhooks specification's (and its libraries') test vector
    headers = signed(
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        datetime.fromtimestamp(1614265330, UTC),
        b'{"test": 2432232314}',
    )
    assert headers == {
        "webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "webhook-timestamp": "1614265330",
        "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "content-type": "application/json",
    }


def test_a_receiver_verifies_it_and_refuses_a_changed_body() -> None:
    # the library checks the timestamp against its own clock (5 minutes' tolerance)
    headers = signed(SECRET, "msg_1", datetime.now(UTC), BODY)
    assert Webhook(SECRET).verify(BODY, headers)["data"]["payout"] == "29.00"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY.replace(b"29.00", b"92.00"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret_for("deployment-secret", "wh_1", 2)).verify(BODY, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(BODY, {**headers, "webhook-id": "msg_2"})


def test_an_old_signature_is_refused() -> None:
    headers = signed(SECRET, "msg_1", datetime.now(UTC) - timedelta(hours=1), BODY)
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(SECRET).verify(BODY, headers)


def test_any_zone_signs_the_same_instant() -> None:
    at = datetime(2026, 3, 8, 7, 0, 30, 900_000, tzinfo=UTC)
    elsewhere = at.astimezone(timezone(timedelta(hours=-5)))
    assert signed(SECRET, "msg_1", elsewhere, BODY) == signed(SECRET, "msg_1", at, BODY)
    assert signed(SECRET, "msg_1", at, BODY)["webhook-timestamp"] == str(int(at.timestamp()))


def test_a_naive_time_is_a_bug() -> None:
    with pytest.raises(InvariantViolation):
        signed(SECRET, "msg_1", datetime(2026, 3, 8, 7, 0), BODY)

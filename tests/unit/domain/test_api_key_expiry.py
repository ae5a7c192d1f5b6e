"""An API key's expiry: refused at and after `expires_at`, like a revoked key; a new expiry
lies after the server's time and within the named maximum."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.api_key import ApiKey, check_expiry, is_expired
from domain.errors import ValidationError
from domain.limits import KEY_EXPIRY_DAYS_MAX

pytestmark = pytest.mark.unit
NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


def _key() -> ApiKey:
    return ApiKey(
        id="key_" + "a" * 32,
        role="analyst",
        owner_id=None,
        key_hash="h",
        label="",
        by="admin",
        timestamp=NOW,
    )


def test_a_key_is_refused_from_its_expiry_on() -> None:
    key = _key()
    assert key.expires_at is None
    assert key.usable_at(NOW + timedelta(days=10_000))
    key.set_expiry(expires_at=NOW + timedelta(hours=1), by="admin", timestamp=NOW)
    assert key.usable_at(NOW + timedelta(minutes=59, seconds=59))
    assert not key.usable_at(NOW + timedelta(hours=1))
    assert not key.usable_at(NOW + timedelta(hours=2))
    assert [type(e).__name__ for e in key.collect_events()] == ["Issued", "ExpirySet"]


def test_a_revoked_key_is_refused_before_its_expiry() -> None:
    key = _key()
    key.set_expiry(expires_at=NOW + timedelta(hours=1), by="admin", timestamp=NOW)
    key.revoke(by="admin", timestamp=NOW)
    assert not key.usable_at(NOW)


def test_no_expiry_never_expires() -> None:
    assert not is_expired(None, NOW)
    assert is_expired(NOW, NOW)
    assert not is_expired(NOW + timedelta(microseconds=1), NOW)


@pytest.mark.parametrize(
    "expires_at",
    [NOW, NOW - timedelta(seconds=1), NOW + timedelta(days=KEY_EXPIRY_DAYS_MAX, seconds=1)],
)
def test_an_expiry_now_past_or_too_far_is_refused(expires_at: datetime) -> None:
    with pytest.raises(ValidationError) as refused:
        check_expiry(expires_at, NOW)
    assert refused.value.field == "expires_at"


def test_an_expiry_within_bounds_is_kept_in_utc() -> None:
    paris = datetime(2026, 5, 1, 15, tzinfo=UTC).astimezone()
    assert check_expiry(paris, NOW) == datetime(2026, 5, 1, 15, tzinfo=UTC)
    far = NOW + timedelta(days=KEY_EXPIRY_DAYS_MAX)
    assert check_expiry(far, NOW) == far


def test_a_naive_expiry_is_refused() -> None:
    with pytest.raises(ValidationError):
        check_expiry(datetime(2027, 1, 1), NOW)

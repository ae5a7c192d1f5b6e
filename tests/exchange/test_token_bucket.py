"""The token bucket's script against real Redis, time given: over any interval of the
requests it sees, it never accepts more than burst + rate × the interval (in whole tokens)."""

from __future__ import annotations

import itertools

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.limits import RATE_LIMITED_REPORT_EVERY_MS
from exchange.hotstate import load_script

SCRIPT = load_script("token_bucket")
counter = itertools.count()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate_per_s=st.integers(1, 50),
    burst=st.integers(1, 20),
    gaps_ms=st.lists(st.integers(0, 400), min_size=1, max_size=80),
)
def test_never_more_than_burst_plus_rate_times_the_interval(
    redis_client: redis.Redis, unique: str, rate_per_s: int, burst: int, gaps_ms: list[int]
) -> None:
    take = redis_client.register_script(SCRIPT)
    key = f"{unique}:{{rl:test:{next(counter)}}}"
    now_ms, accepted_at = 1_000_000, []
    for gap in gaps_ms:
        now_ms += gap
        allowed = take(keys=[key], args=[now_ms, rate_per_s, burst, RATE_LIMITED_REPORT_EVERY_MS])
        if int(allowed[0]) == 1:
            accepted_at.append(now_ms)
    for i, start in enumerate(accepted_at):
        for j in range(i, len(accepted_at)):
            interval_ms = accepted_at[j] - start
            assert j - i + 1 <= burst + rate_per_s * interval_ms // 1000


def _reference(rate_per_s: int, burst: int, times_ms: list[int]) -> list[bool]:
    """The bucket in plain integers: what the script must decide, request by request."""
    capacity, tokens, at, decided = burst * 1000, burst * 1000, times_ms[0], []
    for now_ms in times_ms:
        tokens, at = min(capacity, tokens + (now_ms - at) * rate_per_s), now_ms
        decided.append(tokens >= 1000)
        tokens -= 1000 if tokens >= 1000 else 0
    return decided


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate_per_s=st.integers(1, 50),
    burst=st.integers(1, 20),
    gaps_ms=st.lists(st.integers(0, 300), min_size=1, max_size=60),
)
def test_a_request_is_refused_only_when_the_bucket_is_empty(
    redis_client: redis.Redis, unique: str, rate_per_s: int, burst: int, gaps_ms: list[int]
) -> None:
    take = redis_client.register_script(SCRIPT)
    key = f"{unique}:{{rl:test:{next(counter)}}}"
    times_ms = list(itertools.accumulate(gaps_ms, initial=5_000_000))[1:]
    decided = [
        int(take(keys=[key], args=[t, rate_per_s, burst, RATE_LIMITED_REPORT_EVERY_MS])[0]) == 1
        for t in times_ms
    ]
    assert decided == _reference(rate_per_s, burst, times_ms)

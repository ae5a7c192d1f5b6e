"""The velocity script against real Redis, time given: at every ping it counts exactly the
caller's other pings within the window the ping's campaign asks for (`domain.screening`'s
`velocity_count`), whatever windows other campaigns asked for, and adds the ping."""

from __future__ import annotations

import itertools

import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.limits import VELOCITY_KEPT_MAX
from domain.screening import velocity_count
from exchange.hotstate import load_script
from exchange.keys import Keys
from exchange.velocity import KEEP_MS

SCRIPT = load_script("velocity")
counter = itertools.count()


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    pings=st.lists(
        st.tuples(
            st.integers(0, 3_000) | st.integers(0, 900_000),  # the gap before it
            st.sampled_from([0, 60, 600, 3_600]),  # its campaign's window (0: off)
        ),
        min_size=1,
        max_size=60,
    )
)
def test_the_script_counts_what_the_rule_counts(
    redis_client: redis.Redis, unique: str, pings: list[tuple[int, int]]
) -> None:
    count_and_add = redis_client.register_script(SCRIPT)
    key = Keys(unique).velocity(f"caller{next(counter)}")
    now_ms, seen = 1_000_000_000, []
    for n, (gap, window_s) in enumerate(pings):
        now_ms += gap
        counted = count_and_add(
            keys=[key], args=[now_ms, window_s * 1000, f"call_{n}", KEEP_MS, VELOCITY_KEPT_MAX]
        )
        assert int(counted) == (velocity_count(seen, now_ms, window_s) if window_s else 0)
        seen.append(now_ms)
    assert 0 < redis_client.pttl(key) <= KEEP_MS


def test_a_retried_ping_is_not_counted_twice_and_a_flood_stays_bounded(
    redis_client: redis.Redis, unique: str
) -> None:
    count_and_add = redis_client.register_script(SCRIPT)
    key = Keys(unique).velocity("flood")
    args = [1_000, 600_000]
    assert int(count_and_add(keys=[key], args=[*args, "call_a", KEEP_MS, 5])) == 0
    assert int(count_and_add(keys=[key], args=[*args, "call_a", KEEP_MS, 5])) == 0  # a retry
    for n in range(10):
        count_and_add(keys=[key], args=[*args, f"call_{n}", KEEP_MS, 5])
    assert redis_client.zcard(key) == 5  # the newest kept
    assert Keys("p").velocity("h") == "p:{v:h}"  # its own hash tag: one key, any slot

"""The demo's simulated RTB bidders: whether each answers in time is decided by the seed, with
margins no loaded machine eats into, so the same seed prints the same books anywhere."""

from __future__ import annotations

import pytest

from tools.sim.demo import RTB_DEADLINE_MS, rtb_bidders, rtb_timeout_ms

pytestmark = pytest.mark.unit

MARGIN = 10  # an answer time at most a tenth of the time the exchange waits for it


@pytest.mark.parametrize("seed", range(12))
def test_each_bidder_is_far_on_time_or_always_late(seed: int) -> None:
    bidders = rtb_bidders(seed)
    assert bidders == rtb_bidders(seed)  # the seed decides
    for name, bidder in bidders.items():
        assert bidder.jitter_ms == 0, name  # no answer time left to chance
        if bidder.late:  # answers only when its process stops: any timeout misses it
            assert rtb_timeout_ms(bidder) < RTB_DEADLINE_MS, name
        else:
            assert bidder.delay_ms * MARGIN <= rtb_timeout_ms(bidder), name
            assert bidder.delay_ms * MARGIN <= RTB_DEADLINE_MS, name


def test_the_seeds_give_both_kinds() -> None:
    kinds = {bidder.late for seed in range(12) for bidder in rtb_bidders(seed).values()}
    assert kinds == {True, False}

"""A campaign's traffic counts (the anomaly watch) on a real store: hot, decided by the
writer, snapshotted every 200 events; a cold load from the snapshot equals the events' fold."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.anomaly import CampaignTraffic, traffic_id
from domain.base import PPCXAggregate
from domain.clock import ManualClock
from ppcx.bootstrap import Domain, build_application
from ppcx.settings import Settings

pytestmark = pytest.mark.integration


def test_counts_are_snapshotted_and_load_cold_as_their_fold(
    domain: Domain, clock: ManualClock, local_settings: Settings
) -> None:
    traffic = traffic_id("cmp_1")

    def count(n: int) -> None:
        def change() -> tuple[list[PPCXAggregate], None]:
            found = domain.app.find(CampaignTraffic, traffic)
            at = clock.now()
            counts = found or CampaignTraffic.start("cmp_1", at)
            counts.count_call(
                call_id=f"call_{n}",
                publisher_id=f"pub_{n % 3}",
                short_call=n % 4 == 0,
                duplicate=n % 5 == 0,
                timestamp=max(at, counts.modified_on),
            )
            return [counts], None

        domain.ctx.run(change, hot=(traffic,))

    for n in range(205):
        count(n)
        clock.advance(timedelta(minutes=10))  # 34 h: the window keeps the last 24 buckets
    assert domain.app.snapshots is not None
    assert [s.originator_version for s in domain.app.snapshots.get(traffic)] == [200]
    warm = domain.app.load(CampaignTraffic, traffic, "traffic")
    cold = build_application(local_settings)
    try:
        loaded = cold.repository.get(traffic)
        assert isinstance(loaded, CampaignTraffic)
        assert loaded.version == warm.version == 206
        assert loaded.buckets == warm.buckets
        replayed = None
        for event in cold.events.get(traffic):
            replayed = event.mutate(replayed)
        assert isinstance(replayed, CampaignTraffic)
        assert replayed.buckets == loaded.buckets
        assert len(loaded.buckets) == 24
        at = clock.now() - timedelta(minutes=10)
        mine, every = loaded.counts("pub_1", at)
        assert every.completed == sum(
            sum(row[0] for row in by.values()) for by in loaded.buckets.values()
        )
        assert 0 < mine.completed < every.completed
    finally:
        cold.close()

"""Keeps Redis's derived state in step with the event log: campaigns, targets, buyers (config),
buyers' posted balances and credit limits, the duplicate index and the block list.

It follows the notification log from a position kept in Redis, collects which aggregates the
new events touched, loads each once and writes its *absolute, versioned* state (the scripts
let a newer version win), so running it in several processes at once — every API worker
does — is safe: nothing is applied as a delta, nothing twice. Reservation counters and holds
are not its business: the exchange's scripts keep those (and rehydration rebuilds them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import redis

from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import Call
from domain.caller_history import CallerHistory
from domain.campaign import Campaign
from domain.catalog import Reads, topic_of
from domain.clock import to_ms
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook
from eventstore.application import PPCXApplication
from exchange.hotstate import load_script
from exchange.keys import Keys
from exchange.market import buyer_json, campaign_json, number_json, publisher_json, target_json

logger = logging.getLogger(__name__)
PAGE_EVENTS = 1000
_ADVANCE = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then redis.call('SET', KEYS[1], ARGV[1]) end
return current
"""


# What a buyer's configuration in Redis holds (its market, zone, limit) changes with these;
# its posted funds with these and the money that posts.
BUYER_CONFIG_EVENTS = (Buyer.Registered, Buyer.CreditLimitChanged, Buyer.ProfileChanged)
BUYER_FUNDS_EVENTS = (
    *BUYER_CONFIG_EVENTS,
    Buyer.FundsDeposited,
    Buyer.HoldPosted,
    Buyer.TransferReversed,
)
READS = Reads(
    "exchange.config_sync",
    # every event of these: each touched aggregate's whole state is written again
    handles=(
        Campaign,
        Target,
        BlockedCaller,
        TrackingNumber,
        Publisher,  # whether it is suspended, in every market
        *BUYER_FUNDS_EVENTS,
        CallerHistory.CallerBilled,  # the duplicate index
    ),
    ignores=(
        Buyer.HoldPlaced,  # holds are the reservation scripts' (posted funds do not move)
        User,  # portal users are the portal's
        SavedQueries,  # so are an analyst's saved queries
        Webhook,  # subscriptions are the delivery worker's
        Buyer.HoldVoided,
        CallerHistory.Started,  # a history is indexed once a call of it is billed
        ApiKey,
        Call,
        CommandReceipt,
        RateLimitReport,
        CampaignTraffic,  # the anomaly watch's counts: no market state
        NumberPool,  # DNI pools are read from the store
        ScoringModels,  # the scorer's, read from the store
    ),
)
TOPICS = sorted(READS.topics)
_BUYER_CONFIG_TOPICS = frozenset(topic_of(cls) for cls in BUYER_CONFIG_EVENTS)


@dataclass
class _Touched:
    campaigns: set[str] = field(default_factory=set)
    targets: set[str] = field(default_factory=set)
    buyer_config: set[str] = field(default_factory=set)
    buyer_funds: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    histories: set[str] = field(default_factory=set)
    numbers: set[str] = field(default_factory=set)
    publishers: set[str] = field(default_factory=set)


class ConfigSync:
    def __init__(self, app: PPCXApplication, client: redis.Redis, keys: Keys) -> None:
        self.app = app
        self.redis = client
        self.keys = keys
        self.position_key = f"{keys.prefix}:hotstate:position"
        self.scripts = {
            name: client.register_script(load_script(name))
            for name in ("sync_config", "sync_funds", "sync_flag")
        }
        self._advance = client.register_script(_ADVANCE)

    def position(self) -> int:
        return int(self.redis.get(self.position_key) or 0)

    def catch_up(self, max_pages: int = 1000) -> int:
        """Apply everything new in the log (bounded); the number of events looked at."""
        seen = 0
        for _ in range(max_pages):
            count = self.run_once()
            seen += count
            if count < PAGE_EVENTS:
                break
        return seen

    def run_once(self) -> int:
        start = self.position() + 1
        stop = self.app.store.head()
        if stop < start:
            return 0
        page = self.app.store.read_topics(start, PAGE_EVENTS, stop=stop, topics=TOPICS)
        touched = _Touched()
        by_aggregate = {  # an event's topic less its event name: its aggregate's topic
            topic_of(Campaign): touched.campaigns,
            topic_of(Target): touched.targets,
            topic_of(Buyer): touched.buyer_funds,
            topic_of(BlockedCaller): touched.blocked,
            topic_of(CallerHistory): touched.histories,
            topic_of(TrackingNumber): touched.numbers,
            topic_of(Publisher): touched.publishers,
        }
        for _, oid, _, topic, _ in page:
            by_aggregate[topic.rpartition(".")[0]].add(oid)
            if topic in _BUYER_CONFIG_TOPICS:
                touched.buyer_config.add(oid)
        self._apply(touched, page[-1][0] if page else stop)
        position = page[-1][0] if len(page) == PAGE_EVENTS else stop
        self._advance(keys=[self.position_key], args=[position])
        return len(page)

    def sync_aggregates(
        self,
        *,
        campaigns: Iterable[str],
        targets: Iterable[str],
        buyers: Iterable[str],
        blocked: Iterable[str],
        numbers: Iterable[str],
        position: int,
        publishers: Iterable[str] = (),
    ) -> None:
        """Write the current state of the named aggregates at once and move the follower's
        position to `position` (rehydration: the caller found them by reading the log, so
        each is loaded once instead of once per page that touched it)."""
        buyer_ids = set(buyers)
        touched = _Touched(
            campaigns=set(campaigns),
            targets=set(targets),
            buyer_config=buyer_ids,
            buyer_funds=set(buyer_ids),
            blocked=set(blocked),
            numbers=set(numbers),
            publishers=set(publishers),
        )
        self._apply(touched, position)
        self._advance(keys=[self.position_key], args=[position])

    def _write_config(
        self, market: str, field_name: str, version: int, body: bytes, position: int
    ) -> None:
        self.scripts["sync_config"](
            keys=[self.keys.config(market)], args=[field_name, version, body, position]
        )

    def _apply(self, touched: _Touched, position: int) -> None:
        app = self.app
        for campaign_id in sorted(touched.campaigns):
            campaign = app.find(Campaign, campaign_id)
            if campaign is not None:
                self._add_market(campaign.market)
                self._write_config(
                    campaign.market,
                    f"campaign:{campaign_id}",
                    campaign.version,
                    campaign_json(campaign),
                    position,
                )
        for target_id in sorted(touched.targets):
            target = app.find(Target, target_id)
            campaign = app.find(Campaign, target.campaign_id) if target else None
            if target is not None and campaign is not None:
                self._write_config(
                    campaign.market,
                    f"target:{target_id}",
                    target.version,
                    target_json(target),
                    position,
                )
        self._apply_numbers(touched.numbers, position)
        for buyer_id in sorted(touched.buyer_funds):
            buyer = app.find(Buyer, buyer_id)
            if buyer is None:
                continue
            self._add_market(buyer.market)
            if buyer_id in touched.buyer_config:
                self._write_config(
                    buyer.market, f"buyer:{buyer_id}", buyer.version, buyer_json(buyer), position
                )
            self.scripts["sync_funds"](
                keys=[self.keys.funds(buyer.market), self.keys.config(buyer.market)],
                args=[buyer_id, buyer.version, buyer.posted_cents, buyer.credit_limit_cents],
            )
        markets = [
            m.decode() if isinstance(m, bytes) else m
            for m in self.redis.smembers(self.keys.markets())
        ]
        for block_id in sorted(touched.blocked):
            blocked = app.find(BlockedCaller, block_id)
            if blocked is None:
                continue
            for blocked_key in (self.keys.every_market_blocked(), *map(self.keys.blocked, markets)):
                self.scripts["sync_flag"](
                    keys=[blocked_key],
                    args=[blocked.caller_hash, blocked.version, int(blocked.blocked), 0],
                )
        for history_id in sorted(touched.histories):
            self._apply_history(history_id)
        self._apply_publishers(touched.publishers, markets, position)

    def _apply_publishers(self, publisher_ids: set[str], markets: list[str], position: int) -> None:
        """A publisher's suspension, in every market's configuration (the ping reads it in
        the market's snapshot, so the next ping on any worker honours it)."""
        for publisher_id in sorted(publisher_ids):
            publisher = self.app.find(Publisher, publisher_id)
            if publisher is None:
                continue
            body = publisher_json(publisher)
            field_name = f"publisher:{publisher_id}"
            self.scripts["sync_config"](
                keys=[self.keys.every_market()], args=[field_name, publisher.version, body, 0]
            )
            for market in markets:
                self._write_config(market, field_name, publisher.version, body, position)

    def _add_market(self, market: str) -> None:
        """A market seen for the first time joins the namespace's state generation (when
        there is one: without it the state is lost, and the rebuild marks every market)."""
        if not self.redis.sadd(self.keys.markets(), market):
            return
        self._start_market(market)
        generation = self.redis.get(self.keys.generation())
        if generation is not None:
            self.redis.set(self.keys.generation_marker(market), generation, nx=True)

    def _start_market(self, market: str) -> None:
        """A new market gets what every market holds: the publishers' suspensions and the
        block list recorded before it existed (versioned writes: a newer value stays)."""
        for field_name, body in self.redis.hgetall(self.keys.every_market()).items():
            if not (
                field_name.decode() if isinstance(field_name, bytes) else field_name
            ).startswith("publisher:"):
                continue  # the hash's own counters (`version`, `position`)
            self.scripts["sync_config"](
                keys=[self.keys.config(market)],
                args=[field_name, json.loads(body)["version"], body, 0],
            )
        for caller_hash, flag in self.redis.hgetall(self.keys.every_market_blocked()).items():
            version, _, value = (flag.decode() if isinstance(flag, bytes) else flag).partition(":")
            self.scripts["sync_flag"](
                keys=[self.keys.blocked(market)], args=[caller_hash, int(version), value, 0]
            )

    def _apply_numbers(self, number_ids: set[str], position: int) -> None:
        for number_id in sorted(number_ids):
            number = self.app.find(TrackingNumber, number_id)
            campaign = self.app.find(Campaign, number.campaign_id) if number else None
            if number is not None and campaign is not None:
                self._write_config(
                    campaign.market,
                    f"number:{number_id}",
                    number.version,
                    number_json(number),
                    position,
                )

    def _apply_history(self, history_id: str) -> None:
        history = self.app.find(CallerHistory, history_id)
        if history is None or history.last_billed_at is None:
            return
        campaign = self.app.find(Campaign, history.campaign_id)
        if campaign is None or campaign.duplicate_window_days == 0:
            return
        window_ms = campaign.duplicate_window_days * 86_400_000
        self.scripts["sync_flag"](
            keys=[self.keys.duplicates(campaign.market, history.campaign_id, history.caller_hash)],
            args=[history.buyer_id, history.version, to_ms(history.last_billed_at), window_ms],
        )

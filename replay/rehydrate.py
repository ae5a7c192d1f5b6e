"""`ppcx replay rehydrate-redis`: Redis's hot state rebuilt from the log after Redis lost it.

One pass over the raw stored rows folds what the log implies at `now`:

- **reservations** (what the Lua scripts keep): every hold still pending in the log becomes a
  live call on its target, a hold on its buyer, a reservation hash and an entry in the
  sweeper's queue — a hold already past its expiry too, so the sweeper voids it in the log as
  it would have; a routed call keeps its reservation for the call's maximum life;
- **cap counters** for the buyer's current local hour, day and month, counted as the scripts
  count them: a reservation counts when made; a hold voided before its call was routed (or
  by a failover) gives its counts back (`void`), a routed call not billed keeps its counts but
  not its spend (`end`), a billed one keeps both (`settle`), an open one keeps both;
- **the duplicate index** (last billed time per caller, buyer and campaign) with the TTL it
  has left (the key expires a window after the newest bill), and **unposted bids** (a second
  ping of the same caller returns the bid) with the time they have left;
- **round-robin cursors**, one past the last cursor an auction recorded (auctions that found
  no buyer do not record theirs, so a cursor may restart a little behind: fairness only);
- **caller velocity** (`velocity.lua`'s sets): every ping recorded with a velocity count within
  the longest window before `now`, at its recorded time (the newest `VELOCITY_KEPT_MAX` per
  caller), each set expiring that window after its newest ping.

Configuration (campaigns, targets, buyers, tracking numbers), buyers' posted funds and credit
limits and the block list are then written by the exchange's own follower
(`ConfigSync.sync_aggregates`): the same absolute, versioned writes it makes live, each
aggregate loaded once, and the follower's position set to the end of the log. DNI leases and
idempotency records are not rebuilt (they are not market state; both are short-lived).

The fold keeps only what is still open (pending holds, unposted bids, the current periods'
counts), so its memory stays flat over a month of log."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis

from domain.anomaly import CampaignTraffic
from domain.api_key import ApiKey
from domain.blocklist import BlockedCaller
from domain.buyer import Buyer
from domain.call import CALL_MAX_S, Call
from domain.call_state import Candidate
from domain.caller_history import CallerHistory
from domain.campaign import Campaign, Distribution
from domain.catalog import Reads, name_of
from domain.clock import to_ms
from domain.limits import VELOCITY_KEPT_MAX
from domain.numbers import NumberPool, TrackingNumber
from domain.publisher import Publisher
from domain.rate_limits import RateLimitReport
from domain.receipt import CommandReceipt
from domain.saved_query import SavedQueries
from domain.schedule import LocalPeriods, local_periods
from domain.scoring_model import ScoringModels
from domain.target import Target
from domain.user import User
from domain.webhook import Webhook
from eventstore.application import PPCXApplication
from eventstore.rows import ChainedRow
from exchange.config_sync import ConfigSync
from exchange.hotstate import RESERVATION_GRACE_MS
from exchange.keys import Keys, delete_matching
from exchange.ping import BidState
from exchange.redis_clients import server_identity
from exchange.reservations import ReservationState
from exchange.velocity import KEEP_MS as VELOCITY_KEEP_MS
from replay.log import event_name, pages

PIPELINE_COMMANDS_MAX = 2000
DELETE_BATCH_KEYS = 1000
CALL_MAX_MS = CALL_MAX_S * 1000
PERIOD_REACH = timedelta(days=33)  # no local month is longer, whatever the zone's offset
HOUR, DAY, MONTH, SPEND = 0, 1, 2, 3


@dataclass(slots=True)
class Reservation:
    """A hold as the scripts keep it; times stay RFC 3339 text until they are needed."""

    hold_id: str
    call_id: str
    target_id: str
    buyer_id: str
    price_cents: int
    reserved_at: str
    expires_at: str  # the bid's expiry (before routing)
    routed_at: str | None = None  # then it lives CALL_MAX_S from routing

    @property
    def expires_ms(self) -> int:
        if self.routed_at is not None:
            return to_ms(datetime.fromisoformat(self.routed_at)) + CALL_MAX_MS
        return to_ms(datetime.fromisoformat(self.expires_at))


@dataclass(slots=True)
class UnpostedBid:
    campaign_id: str
    publisher_id: str
    caller_hash: str
    bid_count: int = 0
    decision: dict[str, Any] | None = None  # the AuctionDecided event, until posted


@dataclass(slots=True)
class History:
    caller_hash: str
    buyer_id: str
    campaign_id: str
    version: int = 0
    last_billed_at: str | None = None


Handler = Callable[[str, int, dict[str, Any]], None]
STATELESS = frozenset(
    name_of(cls)
    for cls in (
        Call.BidReceived,
        Call.NoBuyerFound,
        Call.PingScreened,
        Call.CallPosted,
        Call.PingExpired,
        Call.PostRefused,
        Call.QualificationFailed,
    )
)
READS = Reads(
    "replay.rehydrate",
    handles=(
        Buyer.Registered,
        Buyer.ProfileChanged,  # a time zone: the caps' local periods
        Campaign.Created,
        Campaign.RulesChanged,  # a duplicate window
        Target.Created,
        BlockedCaller.CallerBlocked,
        TrackingNumber.Provisioned,
        Publisher.Registered,
        Call.PingReceived,
        Call.BidReceived,
        Call.NoBuyerFound,
        Call.PingScreened,
        Call.AuctionDecided,
        Call.CallPosted,
        Call.PingExpired,
        Call.PostRefused,
        Call.QualificationFailed,  # a ping that never had an auction: nothing kept for it
        Call.CallRouted,
        Buyer.HoldPosted,
        Buyer.HoldVoided,
        CallerHistory.Started,
        CallerHistory.CallerBilled,
    ),
    # configuration, funds and the block list are written from the aggregates themselves
    # (`ConfigSync.sync_aggregates`): the fold only collects which ones exist
    ignores=(
        User,
        SavedQueries,
        Webhook,
        Buyer.CreditLimitChanged,
        Buyer.FundsDeposited,
        Buyer.HoldPlaced,  # a reservation opens at AuctionDecided or CallRouted
        Buyer.TransferReversed,
        BlockedCaller.CallerReblocked,
        BlockedCaller.CallerUnblocked,
        Campaign.PublisherAllowed,
        Campaign.PublisherDisallowed,
        Target.StandingBidSet,
        Target.Paused,
        Target.Resumed,
        Target.RulesChanged,
        Target.Archived,
        Target.CallUnanswered,
        Target.AutoPaused,
        Call.BidRejected,
        Call.BidTimedOut,
        Call.CallAnswered,
        Call.CallFailedOver,  # the failed attempt's hold is voided in a Buyer event
        Call.CallCompleted,
        Call.CallBilled,
        Call.CallNotBilled,
        Call.CallConverted,
        Call.CallDisputed,
        Call.DisputeResolved,
        Call.RecordingAvailable,  # the fetch queue: rebuilt by its worker (`twilio_fetch`)
        Call.CallRecorded,  # evidence: no hot state
        Call.RecordingDeleted,
        Call.CallTranscribed,
        Call.PhrasesSpotted,  # evidence after the call: no hot state
        Call.CallScored,
        ScoringModels,
        ApiKey,
        CommandReceipt,
        RateLimitReport,
        NumberPool,  # DNI leases are not rebuilt
        Publisher.Renamed,
        Publisher.Suspended,
        Publisher.Reinstated,
        Publisher.PingLimitSet,  # written from the aggregate, as its suspension
        Publisher.FlaggedForReview,  # a review flag is no market state
        Publisher.ReviewCleared,
        Call.CallFlagged,
        CampaignTraffic,
    ),
)


class Fold:
    """What Redis should hold at `now`, folded from raw stored rows in log order."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.now_ms = to_ms(now)
        self.head = 0
        self.buyers: dict[str, tuple[str, str]] = {}  # buyer -> (market, time zone)
        self.campaigns: dict[str, tuple[str, int]] = {}  # campaign -> (market, window days)
        self.targets: set[str] = set()
        self.blocked: set[str] = set()  # BlockedCaller ids
        self.numbers: set[str] = set()  # TrackingNumber ids
        self.publishers: set[str] = set()
        self.open: dict[str, Reservation] = {}  # pending holds
        self.caps: dict[str, list[int]] = {}  # target -> [hour, day, month, spend] counted now
        self.cap_buyer: dict[str, str] = {}  # target -> its buyer (market, zone)
        self.unposted: dict[str, UnpostedBid] = {}
        self.cursors: dict[str, int] = {}  # round-robin campaign -> next cursor
        self.histories: dict[str, History] = {}
        # caller hash -> {call id: ping ms}: the velocity sets, within the longest window
        self.velocity: dict[str, dict[str, int]] = {}
        self.reservations = 0
        # reservations made before this (RFC 3339 text, UTC) lie in no current period
        self._reach = (now - PERIOD_REACH).isoformat()
        self._current: dict[str, LocalPeriods] = {}
        self._periods: dict[tuple[str, str], LocalPeriods] = {}  # (zone, minute) -> periods
        self._routes: dict[str, tuple[Handler, bool] | None] = {}
        handlers: dict[type, Handler] = {
            Buyer.Registered: self._buyer,
            Buyer.ProfileChanged: self._buyer_changed,
            Campaign.Created: self._campaign,
            Campaign.RulesChanged: self._campaign_changed,
            Target.Created: self._target,
            BlockedCaller.CallerBlocked: self._blocked,
            TrackingNumber.Provisioned: self._number,
            Publisher.Registered: self._publisher,
            Call.PingReceived: self._ping,
            Call.BidReceived: self._bid,
            Call.NoBuyerFound: self._closed_ping,
            Call.PingScreened: self._closed_ping,
            Call.AuctionDecided: self._decided,
            Call.CallPosted: self._closed_ping,
            Call.PingExpired: self._closed_ping,
            Call.PostRefused: self._closed_ping,
            Call.QualificationFailed: self._closed_ping,
            Call.CallRouted: self._routed,
            Buyer.HoldPosted: self._posted,
            Buyer.HoldVoided: self._voided,
            CallerHistory.Started: self._history,
            CallerHistory.CallerBilled: self._billed,
        }
        self._handlers = {name_of(cls): handler for cls, handler in handlers.items()}

    def feed(self, rows: list[ChainedRow]) -> None:
        routes = self._routes
        nothing: dict[str, Any] = {}
        for _, originator_id, version, topic, state, _ in rows:
            if topic is None or state is None or originator_id is None or version is None:
                continue
            route = routes.get(topic)
            if route is None:
                if topic in routes:
                    continue
                route = routes[topic] = self._route(topic)
                if route is None:
                    continue
            handler, stateless = route
            handler(originator_id, version, nothing if stateless else orjson.loads(state))
        if rows:
            self.head = rows[-1][0]

    def _route(self, topic: str) -> tuple[Handler, bool] | None:
        name = event_name(topic)
        handler = self._handlers.get(name)
        return None if handler is None else (handler, name in STATELESS)

    # -- configuration ------------------------------------------------------------------------
    def _buyer(self, buyer_id: str, version: int, data: dict[str, Any]) -> None:
        self.buyers[buyer_id] = (data["market"], data["time_zone"])

    def _buyer_changed(self, buyer_id: str, version: int, data: dict[str, Any]) -> None:
        market, zone = self.buyers[buyer_id]
        self.buyers[buyer_id] = (market, data["changes"].get("time_zone", zone))

    def _campaign(self, campaign_id: str, version: int, data: dict[str, Any]) -> None:
        self.campaigns[campaign_id] = (data["market"], int(data["duplicate_window_days"]))

    def _campaign_changed(self, campaign_id: str, version: int, data: dict[str, Any]) -> None:
        market, window_days = self.campaigns[campaign_id]
        window_days = int(data["changes"].get("duplicate_window_days", window_days))
        self.campaigns[campaign_id] = (market, window_days)

    def _target(self, target_id: str, version: int, data: dict[str, Any]) -> None:
        self.targets.add(target_id)

    def _blocked(self, entry_id: str, version: int, data: dict[str, Any]) -> None:
        self.blocked.add(entry_id)

    def _number(self, number_id: str, version: int, data: dict[str, Any]) -> None:
        self.numbers.add(number_id)

    def _publisher(self, publisher_id: str, version: int, data: dict[str, Any]) -> None:
        self.publishers.add(publisher_id)

    # -- pings and their bids -------------------------------------------------------------------
    def _ping(self, call_id: str, version: int, data: dict[str, Any]) -> None:
        self.unposted[call_id] = UnpostedBid(
            data["campaign_id"], data["publisher_id"], data["caller_hash"]
        )
        facts = data.get("screening")
        seen = None if facts is None else facts["velocity"]
        if seen is not None and self.now_ms - VELOCITY_KEEP_MS < seen["at_ms"] <= self.now_ms:
            pings = self.velocity.setdefault(data["caller_hash"], {})
            pings[call_id] = seen["at_ms"]
            if len(pings) > 2 * VELOCITY_KEPT_MAX:  # a flood: keep the newest, as the script
                newest = sorted(pings.items(), key=lambda p: p[1])[-VELOCITY_KEPT_MAX:]
                self.velocity[data["caller_hash"]] = dict(newest)

    def _bid(self, call_id: str, version: int, data: dict[str, Any]) -> None:
        found = self.unposted.get(call_id)
        if found is not None:
            found.bid_count += 1

    def _closed_ping(self, call_id: str, version: int, data: dict[str, Any]) -> None:
        self.unposted.pop(call_id, None)

    def _decided(self, call_id: str, version: int, data: dict[str, Any]) -> None:
        winner = next(c for c in data["ranking"] if c["target_id"] == data["winner_target_id"])
        self.reservations += 1
        self.open[data["hold_id"]] = Reservation(
            data["hold_id"],
            call_id,
            winner["target_id"],
            winner["buyer_id"],
            int(data["price_cents"]),
            data["timestamp"],
            data["expires_at"],
        )
        bid = self.unposted.get(call_id)
        if bid is None:
            return
        if data["mode"] == Distribution.ROUND_ROBIN:
            cursor = int(data["rr_cursor"]) + 1
            self.cursors[bid.campaign_id] = max(self.cursors.get(bid.campaign_id, 0), cursor)
        bid.decision = data

    # -- reservations ---------------------------------------------------------------------------
    def _routed(self, call_id: str, version: int, data: dict[str, Any]) -> None:
        found = self.open.get(data["hold_id"])
        if found is None:  # a failover's new reservation, made when routing
            self.reservations += 1
            found = self.open[data["hold_id"]] = Reservation(
                data["hold_id"],
                call_id,
                data["target_id"],
                data["buyer_id"],
                int(data["price_cents"]),
                data["timestamp"],
                data["timestamp"],
            )
        found.routed_at = data["timestamp"]

    def _posted(self, buyer_id: str, version: int, data: dict[str, Any]) -> None:
        self._end(data["hold_id"], keeps_counts=True, keeps_spend=True)  # release "settle"

    def _voided(self, buyer_id: str, version: int, data: dict[str, Any]) -> None:
        found = self.open.get(data["hold_id"])
        failed_over = str(data.get("reason", "")).startswith("failed_over")
        # release "end" (a routed call not billed) keeps the counts; "void" gives them back
        routed = found is not None and found.routed_at is not None and not failed_over
        self._end(data["hold_id"], keeps_counts=routed, keeps_spend=False)

    def _end(self, hold_id: str, *, keeps_counts: bool, keeps_spend: bool) -> None:
        found = self.open.pop(hold_id, None)
        if found is not None and keeps_counts:
            self._count(found, keeps_spend)

    def periods(self, reservation: Reservation) -> LocalPeriods:
        """The local periods the reservation was counted in (cached per zone and minute:
        every zone's offset is a whole number of minutes)."""
        zone = self.buyers[reservation.buyer_id][1]
        key = (zone, reservation.reserved_at[:16])
        found = self._periods.get(key)
        if found is None:
            at = datetime.fromisoformat(reservation.reserved_at)
            found = self._periods[key] = local_periods(at, zone)
        return found

    def current(self, buyer_id: str) -> LocalPeriods:
        zone = self.buyers[buyer_id][1]
        found = self._current.get(zone)
        if found is None:
            found = self._current[zone] = local_periods(self.now, zone)
        return found

    def _count(self, reservation: Reservation, spends: bool) -> None:
        if reservation.reserved_at < self._reach:
            return  # in no current period, whatever the zone
        then, now = self.periods(reservation), self.current(reservation.buyer_id)
        if then.month != now.month:
            return
        row = self.caps.get(reservation.target_id)
        if row is None:
            row = self.caps[reservation.target_id] = [0, 0, 0, 0]
            self.cap_buyer[reservation.target_id] = reservation.buyer_id
        row[MONTH] += 1
        if then.day == now.day:
            row[DAY] += 1
            if spends:
                row[SPEND] += reservation.price_cents
        if then.hour == now.hour:
            row[HOUR] += 1

    # -- duplicates -----------------------------------------------------------------------------
    def _history(self, history_id: str, version: int, data: dict[str, Any]) -> None:
        self.histories[history_id] = History(
            data["caller_hash"], data["buyer_id"], data["campaign_id"], version
        )

    def _billed(self, history_id: str, version: int, data: dict[str, Any]) -> None:
        found = self.histories[history_id]
        found.version = version
        found.last_billed_at = data["timestamp"]

    def finish(self) -> None:
        """Open reservations count (and spend) as the scripts count them until released."""
        for reservation in self.open.values():
            self._count(reservation, True)


def fold_log(app: PPCXApplication, now: datetime) -> Fold:
    fold = Fold(now)
    for page in pages(app.store.read_chained):
        fold.feed(page)
    fold.finish()
    return fold


class _Writer:
    """A non-transactional pipeline flushed every PIPELINE_COMMANDS_MAX commands."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.pipe = client.pipeline(transaction=False)
        self.pending = 0

    def __call__(self, method: str, *args: Any, **kwargs: Any) -> None:
        getattr(self.pipe, method)(*args, **kwargs)
        self.pending += 1
        if self.pending >= PIPELINE_COMMANDS_MAX:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.pipe.execute()
            self.pending = 0


def clear(client: redis.Redis, keys: Keys) -> int:
    """Delete every market's keys, the follower's position and the state's generation (not
    idempotency or DNI)."""
    client.delete(keys.generation())
    deleted = delete_matching(client, keys.market_pattern("*"), DELETE_BATCH_KEYS)
    deleted += delete_matching(client, keys.velocity("*"), DELETE_BATCH_KEYS)
    client.delete(f"{keys.prefix}:hotstate:position", keys.markets())
    return deleted


def _write_reservations(write: _Writer, keys: Keys, fold: Fold) -> int:
    now_ms = fold.now_ms
    held: dict[tuple[str, str], int] = {}
    for r in fold.open.values():
        market = fold.buyers[r.buyer_id][0]
        periods = fold.periods(r)
        expires_ms = r.expires_ms
        write("zadd", keys.live(market, r.target_id), {r.hold_id: expires_ms})
        write("zadd", keys.holds(market, r.buyer_id), {r.hold_id: expires_ms})
        write("hset", keys.held(market, r.buyer_id), r.hold_id, r.price_cents)
        held[(market, r.buyer_id)] = held.get((market, r.buyer_id), 0) + r.price_cents
        reservation = keys.reservation(market, r.hold_id)
        mapping: dict[str, str | int] = {
            "call": r.call_id,
            "target": r.target_id,
            "buyer": r.buyer_id,
            "price": r.price_cents,
            "hp": periods.hour,
            "dp": periods.day,
            "mp": periods.month,
            "state": ReservationState.RESERVED if r.routed_at is None else ReservationState.ROUTED,
            "expires": expires_ms,
            "market": market,
        }
        write("hset", reservation, mapping=mapping)
        # as the scripts set it (expiry + grace); one already past its expiry keeps at least
        # the grace, so the sweeper still finds it and voids the hold in the log
        ttl_ms = max(expires_ms + RESERVATION_GRACE_MS - now_ms, RESERVATION_GRACE_MS)
        write("pexpire", reservation, ttl_ms)
        write("zadd", keys.expiries(market), {r.hold_id: expires_ms})
    for (market, buyer_id), cents in held.items():  # absolute: writing twice changes nothing
        write("hset", keys.funds(market), f"{buyer_id}:held", cents)
    return len(fold.open)


def _write_caps(write: _Writer, keys: Keys, fold: Fold) -> None:
    for target_id, row in fold.caps.items():
        buyer_id = fold.cap_buyer[target_id]
        now = fold.current(buyer_id)
        t = target_id
        mapping: dict[str, str | int] = {
            f"{t}:h": row[HOUR],
            f"{t}:hp": now.hour,
            f"{t}:d": row[DAY],
            f"{t}:dp": now.day,
            f"{t}:m": row[MONTH],
            f"{t}:mp": now.month,
            f"{t}:s": row[SPEND],
            f"{t}:sp": now.day,
        }
        write("hset", keys.caps(fold.buyers[buyer_id][0]), mapping=mapping)


def _bid_state(bid: UnpostedBid, decision: dict[str, Any]) -> BidState:
    """What the exchange keeps for a won ping until it is posted (`exchange.ping.BidState`)."""
    winner = next(c for c in decision["ranking"] if c["target_id"] == decision["winner_target_id"])
    return BidState.won(
        bid.publisher_id,
        Candidate.from_json(winner),
        decision["hold_id"],
        datetime.fromisoformat(decision["expires_at"]),
        bid.bid_count,
    )


def _write_bids_and_cursors(write: _Writer, keys: Keys, fold: Fold) -> int:
    written = 0
    for call_id, bid in fold.unposted.items():
        if bid.decision is None:
            continue
        state = _bid_state(bid, bid.decision)
        left_ms = state.expires_ms - fold.now_ms
        if left_ms <= 0:
            continue
        market = fold.campaigns[bid.campaign_id][0]
        write("set", keys.ping(market, call_id), state.dumps(), px=left_ms + CALL_MAX_MS)
        last = keys.last_ping(market, bid.campaign_id, bid.publisher_id, bid.caller_hash)
        write("set", last, call_id, px=left_ms)
        written += 1
    for campaign_id, cursor in fold.cursors.items():
        write("set", keys.round_robin(fold.campaigns[campaign_id][0], campaign_id), cursor)
    return written


def _write_duplicates(write: _Writer, keys: Keys, fold: Fold) -> int:
    """Each key holds the caller's last bill per buyer and expires a window after the newest
    one (as `ConfigSync` writes it at billing time); keys whose window has passed are gone."""
    by_key: dict[str, tuple[dict[str, str], int]] = {}
    for h in fold.histories.values():
        market, window_days = fold.campaigns[h.campaign_id]
        if h.last_billed_at is None or window_days <= 0:
            continue
        last_billed_ms = to_ms(datetime.fromisoformat(h.last_billed_at))
        key = keys.duplicates(market, h.campaign_id, h.caller_hash)
        fields, expires_ms = by_key.get(key, ({}, 0))
        fields[h.buyer_id] = f"{h.version}:{last_billed_ms}"
        by_key[key] = (fields, max(expires_ms, last_billed_ms + window_days * 86_400_000))
    written = 0
    for key, (fields, expires_ms) in by_key.items():
        if expires_ms <= fold.now_ms:
            continue
        write("hset", key, mapping=fields)
        write("pexpire", key, expires_ms - fold.now_ms)  # relative: Redis's clock is not `now`
        written += 1
    return written


def _write_velocity(write: _Writer, keys: Keys, fold: Fold) -> int:
    """Each caller's recent pings as the velocity script keeps them; the set expires the
    longest window after its newest ping (relative: Redis's clock is not `now`)."""
    for caller_hash, pings in fold.velocity.items():
        newest = dict(sorted(pings.items(), key=lambda p: p[1])[-VELOCITY_KEPT_MAX:])
        key = keys.velocity(caller_hash)
        write("zadd", key, newest)
        write("pexpire", key, max(newest.values()) + VELOCITY_KEEP_MS - fold.now_ms)
    return len(fold.velocity)


def mark_generation(client: redis.Redis, keys: Keys, markets: set[str], generation: str) -> None:
    """The state is whole again: every market's marker, then the namespace's generation
    (`{id, run_id}`: the Redis server it was built on) — the last write of a rebuild."""
    for market in sorted(markets | {_text(m) for m in client.smembers(keys.markets())}):
        client.set(keys.generation_marker(market), generation)
    run_id, _ = server_identity(client)
    client.set(keys.generation(), orjson.dumps({"id": generation, "run_id": run_id}))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def rehydrate(
    app: PPCXApplication,
    client: redis.Redis,
    prefix: str,
    now: datetime,
    *,
    generation: str | None = None,
) -> dict[str, int]:
    """Replace the markets' hot state in Redis with the one the log implies at `now`, and
    mark it whole (a new generation unless one is given)."""
    keys = Keys(prefix)
    fold = fold_log(app, now)
    cleared = clear(client, keys)
    ConfigSync(app, client, keys).sync_aggregates(
        campaigns=fold.campaigns,
        targets=fold.targets,
        buyers=fold.buyers,
        blocked=fold.blocked,
        numbers=fold.numbers,
        position=fold.head,
        publishers=fold.publishers,
    )
    write = _Writer(client)
    open_holds = _write_reservations(write, keys, fold)
    _write_caps(write, keys, fold)
    bids = _write_bids_and_cursors(write, keys, fold)
    duplicates = _write_duplicates(write, keys, fold)
    velocity = _write_velocity(write, keys, fold)
    write.flush()
    markets = {m for m, _ in fold.campaigns.values()} | {m for m, _ in fold.buyers.values()}
    mark_generation(client, keys, markets, generation or uuid.uuid4().hex)
    return {
        "position": fold.head,
        "keys_cleared": cleared,
        "reservations_seen": fold.reservations,
        "open_holds": open_holds,
        "targets_with_counts": len(fold.caps),
        "unposted_bids": bids,
        "duplicate_keys": duplicates,
        "round_robin_cursors": len(fold.cursors),
        "velocity_callers": velocity,
    }

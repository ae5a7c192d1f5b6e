"""`ppcx replay rehydrate-redis`: Redis's hot state rebuilt from the log after Redis lost it.

Two parts. Configuration, funds (posted and limits), the block list and the duplicate index
are what the exchange's own log follower (`ConfigSync`) writes: rehydration replays it from
position zero. Reservations are what the Lua scripts keep: they are folded here from the
calls' and buyers' events — every hold still open becomes a live call on its target, a hold
on its buyer and a reservation with its expiry; every reservation of the current local
hour, day and month counts towards its target's caps as the scripts count it (a hold voided
before its call was routed gives its counts back; a routed call not billed keeps its counts
but not its spend; a billed one keeps both)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import redis

from domain.application import PPCXApplication
from domain.clock import SystemClock, to_ms
from domain.schedule import local_periods
from exchange.config_sync import ConfigSync
from exchange.hotstate import CALL_MAX_S
from exchange.keys import Keys
from replay.log import event_name, pages

RESERVATION_GRACE_MS = 60_000


@dataclass
class Reservation:
    hold_id: str
    call_id: str
    target_id: str
    buyer_id: str
    price_cents: int
    reserved_at: datetime
    expires_at: datetime
    routed: bool = False
    ended: str | None = None  # None (open) | "settle" | "end" | "void"


@dataclass
class Fold:
    buyer_zone: dict[str, str] = field(default_factory=dict)
    buyer_market: dict[str, str] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)

    def apply(self, name: str, originator_id: str, data: dict[str, Any]) -> None:
        if name == "Buyer.Registered":
            self.buyer_zone[originator_id] = data["time_zone"]
            self.buyer_market[originator_id] = data["market"]
        elif name == "Call.AuctionDecided":
            at = datetime.fromisoformat(data["timestamp"])
            winner = next(c for c in data["ranking"] if c["target_id"] == data["winner_target_id"])
            self.reservations[data["hold_id"]] = Reservation(
                data["hold_id"],
                originator_id,
                winner["target_id"],
                winner["buyer_id"],
                int(data["price_cents"]),
                at,
                datetime.fromisoformat(data["expires_at"]),
            )
        elif name == "Call.CallRouted":
            at = datetime.fromisoformat(data["timestamp"])
            found = self.reservations.get(data["hold_id"])
            if found is None:  # a failover's new reservation, made when routing
                found = self.reservations[data["hold_id"]] = Reservation(
                    data["hold_id"],
                    originator_id,
                    data["target_id"],
                    data["buyer_id"],
                    int(data["price_cents"]),
                    at,
                    at,
                )
            found.routed = True
            found.expires_at = at + timedelta(seconds=CALL_MAX_S)
        elif name == "Buyer.HoldPosted":
            self._end(data["hold_id"], "settle")
        elif name == "Buyer.HoldVoided":
            # as the exchange releases: a failed-over attempt and an unrouted bid give their
            # counts back ("void"); a routed call that was not billed keeps them ("end")
            held = self.reservations.get(data["hold_id"])
            routed = held is not None and held.routed
            failed_over = str(data.get("reason", "")).startswith("failed_over")
            self._end(data["hold_id"], "end" if routed and not failed_over else "void")

    def _end(self, hold_id: str, how: str) -> None:
        found = self.reservations.get(hold_id)
        if found is not None:
            found.ended = how


def fold_log(app: PPCXApplication) -> Fold:
    fold = Fold()
    wanted = (
        "Buyer.Registered",
        "Call.AuctionDecided",
        "Call.CallRouted",
        "Buyer.HoldPosted",
        "Buyer.HoldVoided",
    )
    for page in pages(app.select_chained):
        for _, originator_id, _, topic, state, _ in page:
            if topic is None or state is None or originator_id is None:
                continue
            name = event_name(topic)
            if name in wanted:
                fold.apply(name, originator_id, orjson.loads(state))
    return fold


def rehydrate(
    app: PPCXApplication, client: redis.Redis, prefix: str, now: datetime | None = None
) -> dict[str, int]:
    """Replace the markets' hot state in Redis with the one the log implies at `now`."""

    at = now or SystemClock().now()
    keys = Keys(prefix)
    for key in client.scan_iter(match=f"{prefix}:{{m:*", count=1000):
        client.delete(key)
    client.delete(f"{prefix}:hotstate:position", keys.markets())
    synced = ConfigSync(app, client, keys).catch_up(max_pages=1_000_000)
    fold = fold_log(app)
    now_ms = to_ms(at)
    caps: dict[str, dict[str, Any]] = {}
    open_holds = counted = 0
    pipe = client.pipeline(transaction=False)
    for r in fold.reservations.values():
        market = fold.buyer_market.get(r.buyer_id, "main")
        zone = fold.buyer_zone.get(r.buyer_id, "UTC")
        then, current = local_periods(r.reserved_at, zone), local_periods(at, zone)
        open_ = r.ended is None and to_ms(r.expires_at) > now_ms
        counts = r.ended in ("settle", "end") or open_
        spends = r.ended == "settle" or open_
        row = caps.setdefault(
            f"{market}|{r.target_id}",
            {
                "h": 0,
                "hp": current.hour,
                "d": 0,
                "dp": current.day,
                "m": 0,
                "mp": current.month,
                "s": 0,
                "sp": current.day,
            },
        )
        if counts:
            counted += 1
            row["h"] += then.hour == current.hour
            row["d"] += then.day == current.day
            row["m"] += then.month == current.month
        if spends and then.day == current.day:
            row["s"] += r.price_cents
        if not open_:
            continue
        open_holds += 1
        expires_ms = to_ms(r.expires_at)
        pipe.zadd(keys.live(market, r.target_id), {r.hold_id: expires_ms})
        pipe.zadd(keys.holds(market, r.buyer_id), {r.hold_id: expires_ms})
        pipe.hset(keys.held(market, r.buyer_id), r.hold_id, r.price_cents)
        pipe.hincrby(keys.funds(market), f"{r.buyer_id}:held", r.price_cents)
        pipe.hset(
            keys.reservation(market, r.hold_id),
            mapping={
                "call": r.call_id,
                "target": r.target_id,
                "buyer": r.buyer_id,
                "price": r.price_cents,
                "hp": then.hour,
                "dp": then.day,
                "mp": then.month,
                "state": "routed" if r.routed else "reserved",
                "expires": expires_ms,
                "market": market,
            },
        )
        pipe.pexpire(
            keys.reservation(market, r.hold_id), max(1, expires_ms - now_ms + RESERVATION_GRACE_MS)
        )
        pipe.zadd(keys.expiries(market), {r.hold_id: expires_ms})
    for key, row in caps.items():
        market, target_id = key.split("|", 1)
        pipe.hset(keys.caps(market), mapping={f"{target_id}:{k}": v for k, v in row.items()})
    pipe.execute()
    return {
        "config_events": synced,
        "reservations": len(fold.reservations),
        "counted": counted,
        "open_holds": open_holds,
        "targets_with_caps": len(caps),
    }

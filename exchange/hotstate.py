"""The auction's hot state in Redis: the cached market snapshot, usage reads for eligibility,
and the Lua scripts that reserve, route and release (see `exchange.keys` for the layout).

Scripts are registered once and called by SHA; redis-py reloads them after a restart (the
script cache is not persisted). They get the time as `now_ms` and return small status codes
that `ReserveStatus` maps to reasons.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from importlib import resources
from typing import Any, cast

import orjson
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.exceptions

from domain.call import CALL_MAX_S
from domain.call_state import ExclusionReason
from domain.caps import CapUsage
from domain.clock import to_ms
from domain.invariant import invariant, present
from domain.schedule import LocalPeriods, local_periods
from exchange.keys import Keys
from exchange.market import MarketSnapshot, TargetRule
from exchange.ping import BidState
from exchange.redis_clients import is_cluster
from exchange.reservations import ReleaseMode

RESERVATION_GRACE_MS = 24 * 3600 * 1000  # a reservation key outlives its expiry by a day
FUNDS_CACHE_S = 0.1
SCRIPT_NAMES = (
    "peek",
    "save_ping",
    "reserve",
    "release",
    "route",
    "claim_expired",
    "sync_config",
    "sync_funds",
    "sync_flag",
)


def load_script(name: str) -> str:
    return (resources.files("exchange") / "redis_scripts" / f"{name}.lua").read_text()


class StateLost(RuntimeError):
    """The market's derived state is gone from Redis (flushed, or a restart without
    persistence): nothing is reserved until it is rebuilt from the log (a 503 meanwhile)."""

    def __init__(self, market: str) -> None:
        super().__init__(f"market {market!r}: Redis lost the exchange's state; rebuilding")
        self.market = market


class ReserveStatus(IntEnum):
    LOST = -9  # no generation marker: see StateLost
    RESERVED = 1
    ALREADY = 2
    CONCURRENCY = -1
    HOURLY = -2
    DAILY = -3
    MONTHLY = -4
    BUDGET = -5
    FUNDS = -6

    @property
    def reason(self) -> ExclusionReason:
        """Why the script refused (asked of a refusal only)."""
        return present(_REFUSALS.get(self), f"reservation status {self.name} is not a refusal")


_REFUSALS = {
    ReserveStatus.CONCURRENCY: ExclusionReason.CAP_CONCURRENCY,
    ReserveStatus.HOURLY: ExclusionReason.CAP_HOURLY,
    ReserveStatus.DAILY: ExclusionReason.CAP_DAILY,
    ReserveStatus.MONTHLY: ExclusionReason.CAP_MONTHLY,
    ReserveStatus.BUDGET: ExclusionReason.CAP_BUDGET,
    ReserveStatus.FUNDS: ExclusionReason.INSUFFICIENT_FUNDS,
}
_RELEASE_MODES = frozenset(ReleaseMode)


@dataclass(frozen=True, slots=True)
class Peek:
    version: int
    last_call_id: str | None
    billed: dict[bytes, bytes]  # buyer -> "<version>:<last billed ms>"
    blocked: bool
    funds_version: int = 0  # moves when a buyer's headroom grows (deposit, refund, limit)
    generation: bytes = b""  # the market's state generation (never empty: see StateLost)


@dataclass(frozen=True, slots=True)
class Usage:
    """What eligibility needs to know about the campaign's targets and the caller."""

    usage: dict[str, CapUsage]
    headroom_cents: dict[str, int]  # buyer -> posted − held + credit limit
    duplicate_buyers: frozenset[str]
    blocked: bool


def _int(value: bytes | str | None) -> int:
    return int(value) if value else 0


def _text(value: bytes | str) -> str:
    """redis-py answers bytes (responses are not decoded); its types say bytes or str."""
    return value.decode() if isinstance(value, bytes) else value


def _bytes_map(raw: Mapping[Any, Any]) -> dict[bytes, bytes]:
    return {
        k if isinstance(k, bytes) else k.encode(): v if isinstance(v, bytes) else v.encode()
        for k, v in raw.items()
    }


def _periods_by_buyer(snapshot: MarketSnapshot, at: datetime) -> dict[str, LocalPeriods]:
    zones: dict[str, LocalPeriods] = {}
    result = {}
    for buyer in snapshot.buyers.values():
        periods = zones.get(buyer.time_zone)
        if periods is None:
            periods = zones[buyer.time_zone] = local_periods(at, buyer.time_zone)
        result[buyer.buyer_id] = periods
    return result


REPLICAS_SEEN_S = 1.0  # how long a master's count of connected replicas is trusted


class ReplicaDidNotAcknowledge(redis.exceptions.ConnectionError):
    """A reservation no replica had within the bound: undone, and the ping refused as when
    Redis is unavailable (a 503 with Retry-After)."""


class HotState:
    def __init__(self, client: aioredis.Redis, keys: Keys, *, replica_ack_ms: int = 0) -> None:
        self.redis = client
        self.keys = keys
        # on a cluster: a reservation is kept only once a replica has it (`_replicated`)
        self.replica_ack_ms = replica_ack_ms if is_cluster(client) else 0
        self._replicas_seen: dict[str, tuple[float, int]] = {}  # node -> (when, replicas)
        self.scripts = {name: client.register_script(load_script(name)) for name in SCRIPT_NAMES}
        # cached per market with the generation they were read in: a rebuilt state counts
        # its config and funds versions from zero again
        self._snapshots: dict[str, tuple[bytes, MarketSnapshot]] = {}
        self._funds: dict[str, tuple[float, bytes, int, dict[str, int]]] = {}
        self._reload_lock = asyncio.Lock()
        self.on_lost: Callable[[str], None] | None = None  # told of a lost state (a rebuild)

    def _lost(self, market: str) -> StateLost:
        if self.on_lost is not None:
            self.on_lost(market)
        return StateLost(market)

    # -- the market snapshot (cached per process, reloaded when the config version moves) --------
    async def snapshot(
        self, market: str, version: int | None = None, generation: bytes | None = None
    ) -> MarketSnapshot:
        if version is None or generation is None:
            pipe = self.redis.pipeline(transaction=False)
            pipe.hget(self.keys.config(market), "version")
            pipe.get(self.keys.generation_marker(market))
            raw_version, raw_generation = await pipe.execute()
            version, generation = _int(raw_version), raw_generation or b""
        cached = self._snapshots.get(market)
        if cached is not None and cached[0] == generation and cached[1].version == version:
            return cached[1]
        async with self._reload_lock:
            cached = self._snapshots.get(market)
            if cached is not None and cached[0] == generation and cached[1].version == version:
                return cached[1]
            raw = _bytes_map(await self.redis.hgetall(self.keys.config(market)))
            fresh = MarketSnapshot.parse(market, raw)
            self._snapshots[market] = (generation, fresh)
            self._funds.pop(market, None)  # limits may have moved with the configuration
            return fresh

    async def peek(
        self, market: str, campaign_id: str, publisher_id: str, caller_hash: str
    ) -> Peek:
        """What a ping needs to know before the snapshot: the config version, the caller's
        unexpired bid from this publisher, the buyers who paid for this caller, and the
        block list — one trip."""
        keys = self.keys
        version, last, billed, flag, funds_version, generation = await self.scripts["peek"](
            keys=[
                keys.config(market),
                keys.last_ping(market, campaign_id, publisher_id, caller_hash),
                keys.duplicates(market, campaign_id, caller_hash),
                keys.blocked(market),
                keys.generation_marker(market),
            ],
            args=[caller_hash],
        )
        if not generation:  # the state is lost: no auction on it (StateLost: a 503)
            raise self._lost(market)
        return Peek(
            _int(version),
            last.decode() if last else None,
            dict(zip(billed[::2], billed[1::2], strict=True)),
            bool(flag) and flag.endswith(b":1"),
            _int(funds_version),
            bytes(generation),
        )

    def forget_snapshots(self) -> None:
        """Drop this process's cached snapshots and funds (tests, after a sync)."""
        self._snapshots.clear()
        self._funds.clear()

    # -- reads for one ping --------------------------------------------------------------------
    async def _headroom(self, market: str, generation: bytes, funds_version: int) -> dict[str, int]:
        """Every buyer's posted − held + credit limit in the market, cached for
        FUNDS_CACHE_S: eligibility only pre-filters on it (the reserve script and the
        buyer's account decide), so a read per ping would buy nothing but latency. A cache
        that is too high costs nothing (the script refuses); one that is too low would
        exclude a buyer that just paid in, so a grown headroom (`funds_version`) is read at
        once."""
        cached = self._funds.get(market)
        now = time.monotonic()
        if (
            cached is not None
            and cached[1:3] == (generation, funds_version)
            and now - cached[0] < FUNDS_CACHE_S
        ):
            return cached[3]
        raw = _bytes_map(await self.redis.hgetall(self.keys.funds(market)))
        parts: dict[str, dict[bytes, int]] = {}
        for key, value in raw.items():
            buyer, _, name = key.rpartition(b":")
            parts.setdefault(buyer.decode(), {})[name] = int(value)
        headroom = {
            b: p.get(b"posted", 0) - p.get(b"held", 0) + p.get(b"limit", 0)
            for b, p in parts.items()
        }
        self._funds[market] = (now, generation, funds_version, headroom)
        return headroom

    async def read_usage(
        self,
        snapshot: MarketSnapshot,
        campaign_id: str,
        peek: Peek,
        at: datetime,
        window_days: int,
    ) -> Usage:
        market = snapshot.market
        keys = self.keys
        counted = snapshot.counted.get(campaign_id, [])
        concurrent = snapshot.concurrent.get(campaign_id, [])
        now_ms = to_ms(at)
        headroom = await self._headroom(market, peek.generation, peek.funds_version)
        usage: dict[str, CapUsage] = {}
        if counted or concurrent:  # a second trip only for campaigns with capped targets
            pipe = self.redis.pipeline(transaction=False)
            if counted:
                fields = [
                    f"{t.target_id}:{f}"
                    for t in counted
                    for f in ("h", "hp", "d", "dp", "m", "mp", "s", "sp")
                ]
                pipe.hmget(keys.caps(market), fields)
            for t in concurrent:
                pipe.zcount(keys.live(market, t.target_id), now_ms + 1, "+inf")
            results: list[Any] = await pipe.execute()
            usage = self._cap_usage(snapshot, counted, concurrent, results, at)
        window_ms = window_days * 86_400_000
        duplicates = frozenset(
            buyer.decode()
            for buyer, value in peek.billed.items()
            if window_ms and now_ms - int(value.split(b":", 1)[1]) < window_ms
        )
        return Usage(usage, headroom, duplicates, peek.blocked)

    @staticmethod
    def _cap_usage(
        snapshot: MarketSnapshot,
        counted: list[TargetRule],
        concurrent: list[TargetRule],
        results: list[Any],
        at: datetime,
    ) -> dict[str, CapUsage]:
        cursor = 0
        counts: dict[str, list[bytes | None]] = {}
        if counted:
            values = results[cursor]
            cursor += 1
            for i, t in enumerate(counted):
                counts[t.target_id] = values[i * 8 : i * 8 + 8]
        live = {t.target_id: int(results[cursor + i]) for i, t in enumerate(concurrent)}
        periods = _periods_by_buyer(snapshot, at)
        usage: dict[str, CapUsage] = {}
        for t in {t.target_id: t for t in (*counted, *concurrent)}.values():
            c = counts.get(t.target_id)
            p = periods.get(t.buyer_id)
            if c is not None and p is not None:
                hour_count = _int(c[0]) if c[1] == p.hour.encode() else 0
                day_count = _int(c[2]) if c[3] == p.day.encode() else 0
                month_count = _int(c[4]) if c[5] == p.month.encode() else 0
                spend = _int(c[6]) if c[7] == p.day.encode() else 0
            else:
                hour_count = day_count = month_count = spend = 0
            usage[t.target_id] = CapUsage(
                live.get(t.target_id, 0), hour_count, day_count, month_count, spend
            )
        return usage

    # -- reservations ----------------------------------------------------------------------------
    def _reservation_keys(
        self, market: str, target_id: str, buyer_id: str, hold_id: str
    ) -> list[str]:
        k = self.keys
        return [
            k.caps(market),
            k.funds(market),
            k.live(market, target_id),
            k.holds(market, buyer_id),
            k.held(market, buyer_id),
            k.reservation(market, hold_id),
            k.expiries(market),
            k.generation_marker(market),
        ]

    async def reserve(
        self,
        market: str,
        target: TargetRule,
        time_zone: str,
        hold_id: str,
        call_id: str,
        price_cents: int,
        at: datetime,
        expires_at: datetime,
    ) -> ReserveStatus:
        periods = local_periods(at, time_zone)
        caps = target.caps

        def cap(value: int | None) -> int:
            return -1 if value is None else value

        expires_ms = to_ms(expires_at)
        status = await self.scripts["reserve"](
            keys=self._reservation_keys(market, target.target_id, target.buyer_id, hold_id),
            args=[
                target.target_id,
                target.buyer_id,
                hold_id,
                call_id,
                price_cents,
                to_ms(at),
                expires_ms,
                cap(caps.concurrency),
                cap(caps.hourly),
                cap(caps.daily),
                cap(caps.monthly),
                cap(caps.daily_budget_cents),
                periods.hour,
                periods.day,
                periods.month,
                expires_ms - to_ms(at) + RESERVATION_GRACE_MS,
                market,
            ],
        )
        found = ReserveStatus(int(status))
        if found is ReserveStatus.LOST:
            raise self._lost(market)
        if found is ReserveStatus.RESERVED and not await self._replicated(market):
            await self.release(market, target.target_id, target.buyer_id, hold_id, ReleaseMode.VOID)
            raise ReplicaDidNotAcknowledge(
                f"no replica of market {market}'s master had the reservation within "
                f"{self.replica_ack_ms} ms"
            )
        return found

    async def _replicated(self, market: str) -> bool:
        """Whether a replica of the master holding `market` has its writes so far (WAIT 1):
        replication is asynchronous, and a reservation the master alone had would be lost to
        a failover and over-committed on the promoted replica. A master with no replica
        connected has none to lose it to (a promoted one, until its old master comes back as
        its replica): nothing to wait for. Always true off a cluster."""
        if not self.replica_ack_ms:
            return True
        cluster = cast(aiocluster.RedisCluster, self.redis)
        node = present(cluster.get_node_from_key(self.keys.funds(market)), "a node per slot")
        if not await self._has_replica(cluster, node):
            return True
        acknowledged = await cluster.execute_command(
            "WAIT", 1, self.replica_ack_ms, target_nodes=node
        )
        return int(acknowledged) >= 1

    async def _has_replica(self, cluster: aiocluster.RedisCluster, node: Any) -> bool:
        """Whether `node` has a replica connected (ROLE), asked at most every
        `REPLICAS_SEEN_S` per node."""
        now = time.monotonic()
        seen = self._replicas_seen.get(node.name)
        if seen is None or now - seen[0] >= REPLICAS_SEEN_S:
            role = await cluster.execute_command("ROLE", target_nodes=node)
            replicas = len(role[2]) if role and role[0] in (b"master", "master") else 0
            seen = (now, replicas)
            self._replicas_seen[node.name] = seen
        return seen[1] > 0

    async def release(
        self, market: str, target_id: str, buyer_id: str, hold_id: str, mode: ReleaseMode
    ) -> bool:
        invariant(mode in _RELEASE_MODES, f"unknown release mode {mode!r}")
        released = await self.scripts["release"](
            keys=self._reservation_keys(market, target_id, buyer_id, hold_id),
            args=[hold_id, mode],
        )
        return bool(released)

    async def route(
        self, market: str, target_id: str, buyer_id: str, hold_id: str, at: datetime
    ) -> bool:
        k = self.keys
        expires_ms = to_ms(at) + CALL_MAX_S * 1000
        extended = await self.scripts["route"](
            keys=[
                k.live(market, target_id),
                k.holds(market, buyer_id),
                k.reservation(market, hold_id),
                k.expiries(market),
            ],
            args=[hold_id, expires_ms, CALL_MAX_S * 1000 + RESERVATION_GRACE_MS],
        )
        return bool(extended)

    async def claim_expired(
        self, market: str, at: datetime, limit: int, lease_ms: int
    ) -> list[str]:
        claimed = await self.scripts["claim_expired"](
            keys=[self.keys.expiries(market)], args=[to_ms(at), limit, lease_ms]
        )
        return [h.decode() for h in claimed]

    async def drop_expiry(self, market: str, hold_id: str) -> None:
        await self.redis.zrem(self.keys.expiries(market), hold_id)

    async def reservation(self, market: str, hold_id: str) -> dict[str, str]:
        raw = await self.redis.hgetall(self.keys.reservation(market, hold_id))
        return {_text(k): _text(v) for k, v in raw.items()}

    # -- ping state ----------------------------------------------------------------------------
    async def save_ping(
        self,
        market: str,
        call_id: str,
        state: BidState,
        campaign_id: str,
        publisher_id: str,
        caller_hash: str,
        ttl_ms: int,
        bid_ttl_ms: int,
    ) -> None:
        await self.scripts["save_ping"](
            keys=[
                self.keys.ping(market, call_id),
                self.keys.last_ping(market, campaign_id, publisher_id, caller_hash),
            ],
            args=[state.dumps(), call_id, ttl_ms, bid_ttl_ms],
        )

    async def load_ping(self, market: str, call_id: str) -> BidState | None:
        raw = await self.redis.get(self.keys.ping(market, call_id))
        return BidState.from_json(orjson.loads(raw)) if raw else None

    async def forget_last_ping(
        self, market: str, campaign_id: str, publisher_id: str, caller_hash: str
    ) -> None:
        """The caller's bid was posted: a new ping from this publisher runs a new auction."""
        await self.redis.delete(self.keys.last_ping(market, campaign_id, publisher_id, caller_hash))

    async def next_round_robin(self, market: str, campaign_id: str) -> int:
        return int(await self.redis.incr(self.keys.round_robin(market, campaign_id))) - 1

    async def markets(self) -> list[str]:
        return sorted(_text(m) for m in await self.redis.smembers(self.keys.markets()))

    async def delete_market_state(self, markets: Iterable[str]) -> int:
        """Drop every key of the given markets (rehydration rebuilds them)."""
        deleted = 0
        for market in markets:
            batch: list[bytes] = []
            async for key in self.redis.scan_iter(
                match=self.keys.market_pattern(market), count=1000
            ):
                batch.append(key)
                if len(batch) >= 1000:
                    deleted += await self.redis.delete(*batch)
                    batch = []
            if batch:
                deleted += await self.redis.delete(*batch)
        return deleted

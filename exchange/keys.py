"""Every Redis key PPCX uses, spelled in this one module.

A **market** is the unit of sharding: each campaign and each buyer belongs to one (default
`main`), and a target joins a buyer to a campaign of the same market. Every key an auction
touches carries the market's hash tag `{m:<market>}`, so on a Redis Cluster one auction —
its reads, its reservation script, its ping state — lives in one hash slot.

    <p>:{m:M}:cfg                 hash  version; campaign:<id>, target:<id>, buyer:<id> → JSON
                                        (each with the aggregate version; older never
                                        overwrites newer); position: last log id applied
    <p>:{m:M}:funds               hash  <buyer>:posted, <buyer>:limit (from the log),
                                        <buyer>:held (live reservations, kept by the scripts)
    <p>:{m:M}:caps                hash  per target: <t>:h/<t>:hp (count, local hour),
                                        <t>:d/<t>:dp, <t>:m/<t>:mp, <t>:s/<t>:sp (spend, day)
    <p>:{m:M}:live:<target>       zset  hold id → expiry ms: the target's live calls
    <p>:{m:M}:holds:<buyer>       zset  hold id → expiry ms: the buyer's reservations
    <p>:{m:M}:held:<buyer>        hash  hold id → amount cents
    <p>:{m:M}:res:<hold>          hash  one reservation: call, target, buyer, price, periods,
                                        state (reserved | routed)
    <p>:{m:M}:expiries            zset  hold id → expiry ms (the sweeper's queue)
    <p>:{m:M}:ping:<call>         hash  a ping's outcome for post and failover
    <p>:{m:M}:last:<cmp>:<pub>:<caller>
                                  str   call id of the caller's unexpired bid on a campaign
                                        for one publisher (never shared between publishers)
    <p>:{m:M}:dup:<cmp>:<caller>  hash  buyer → last billed ms (expires with the window)
    <p>:{m:M}:blocked             hash  caller hash → "<version>:<0|1>" (the DNC list)
    <p>:{m:M}:rr:<cmp>            str   round-robin cursor
    <p>:{m:M}:gen                 str   the market's state generation; missing: the state is lost
                                        (a flush, a restart without persistence) and the
                                        scripts refuse until it is rebuilt from the log
    <p>:markets                   set   market names (configuration, not on the auction path)
    <p>:generation                str   the namespace's generation {id, run_id} (a rebuild's last
                                        write); <p>:rebuild the rebuild's lock
    <p>:idem:<key>                str   API idempotency records (not market data)
    <p>:keys:used                 hash  API key id → when it was last used (epoch ms), written
                                        at most once a minute per key and process (not market
                                        data; lost with Redis, which only forgets a hint)
    <p>:dni:{pool:P}:…            DNI leases of pool P (not market data): session:<s> str
                                        (the session's number), lru zset, owner hash
    <p>:all:config                 hash  what every market's cfg holds (publisher:<id>), for a
                                        market seen for the first time to start from
    <p>:all:blocked                hash  the block list every market holds, likewise
    <p>:login:fail:<hash>          string failed portal sign-ins (TTL: the window)
    <p>:dni:leases:{s:<session>}  hash  pool id → number the session leased (TTL: its
                                        longest lease), for pings naming only the session
    <p>:recordings:pending        hash  Twilio RecordingSid → JSON {call, duration_s, ticks}: a
                                        recording to fetch (`evidence.twilio_fetch`; a cache of
                                        the log's `Call.RecordingAvailable`)
    <p>:recordings:pending:indexed str  set once the pending hash was built from the log
                                        (missing: a new namespace, or Redis lost it: built again)
    <p>:recordings:claim:<sid>    str   one worker's lease on fetching <sid> (TTL)
    <p>:recordings:expiry         zset  "<call>/<recording>" → when retention ends (epoch ms)
    <p>:recordings:indexed        str   set once the expiry set was built from the log (missing:
                                        a new namespace, or Redis lost it: built again)
    <p>:{rl:<scope>:<owner>}      hash  one token bucket (`token_bucket.lua`): a publisher's
                                        pings, a DNI client's hashed address, an RTB
                                        endpoint's hashed URL (TTL: until it is full again)
    <p>:{v:<caller>}             zset  caller velocity (`velocity.lua`): call id → ping ms, the
                                        caller's pings across all campaigns and markets (its
                                        own hash tag; TTL: the longest velocity window)

On a Redis Cluster (`PPCX_REDIS_CLUSTER`) every script names keys of one hash tag — a market
`{m:M}`, a DNI pool `{pool:P}`, a DNI session `{s:S}` — or a single key (the follower's
position, the rebuild lock, a sign-in counter); the other keys are read and written by
single-key commands, non-transactional pipelines and per-slot deletes (see
`exchange.redis_clients`).

`<p>` is the configured prefix (`PPCX_REDIS_PREFIX`). Caller numbers appear only as keyed
hashes. Time never enters a key except as the local cap periods, computed in the buyer's time
zone by Python and passed to the scripts, which never read the clock.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis


@dataclass(frozen=True)
class Keys:
    prefix: str

    def _m(self, market: str) -> str:
        return f"{self.prefix}:{{m:{market}}}"

    def config(self, market: str) -> str:
        return f"{self._m(market)}:cfg"

    def funds(self, market: str) -> str:
        return f"{self._m(market)}:funds"

    def caps(self, market: str) -> str:
        return f"{self._m(market)}:caps"

    def live(self, market: str, target_id: str) -> str:
        return f"{self._m(market)}:live:{target_id}"

    def holds(self, market: str, buyer_id: str) -> str:
        return f"{self._m(market)}:holds:{buyer_id}"

    def held(self, market: str, buyer_id: str) -> str:
        return f"{self._m(market)}:held:{buyer_id}"

    def reservation(self, market: str, hold_id: str) -> str:
        return f"{self._m(market)}:res:{hold_id}"

    def expiries(self, market: str) -> str:
        return f"{self._m(market)}:expiries"

    def ping(self, market: str, call_id: str) -> str:
        return f"{self._m(market)}:ping:{call_id}"

    def last_ping(self, market: str, campaign_id: str, publisher_id: str, caller_hash: str) -> str:
        return f"{self._m(market)}:last:{campaign_id}:{publisher_id}:{caller_hash}"

    def duplicates(self, market: str, campaign_id: str, caller_hash: str) -> str:
        return f"{self._m(market)}:dup:{campaign_id}:{caller_hash}"

    def blocked(self, market: str) -> str:
        return f"{self._m(market)}:blocked"

    def round_robin(self, market: str, campaign_id: str) -> str:
        return f"{self._m(market)}:rr:{campaign_id}"

    def market_pattern(self, market: str) -> str:
        return f"{self._m(market)}:*"

    def markets(self) -> str:
        return f"{self.prefix}:markets"

    def generation_marker(self, market: str) -> str:
        """The market's state generation: present while its state is whole (see
        `generation`); every reservation script refuses without it."""
        return f"{self._m(market)}:gen"

    def generation(self) -> str:
        """The generation of the whole namespace's derived state, written last by a rebuild
        (JSON: the generation id and the Redis run id it was built on)."""
        return f"{self.prefix}:generation"

    def rebuild_lock(self) -> str:
        """Taken by the one process that rebuilds lost state from the log."""
        return f"{self.prefix}:rebuild"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    def every_market(self) -> str:
        """What every market's configuration holds (publishers' suspensions, as `config`):
        a market seen for the first time starts from it."""
        return f"{self.prefix}:all:config"

    def every_market_blocked(self) -> str:
        """The block list every market holds (as `blocked`), for a new market to start from."""
        return f"{self.prefix}:all:blocked"

    def login_failures(self, who: str) -> str:
        """Failed portal sign-ins of one address or client (`who` is a hash), with a TTL."""
        return f"{self.prefix}:login:fail:{who}"

    def live_poll(self, session: str) -> str:
        """A portal session's last live-list poll (`session` is a hash), with a short TTL."""
        return f"{self.prefix}:live:poll:{session}"

    def keys_used(self) -> str:
        return f"{self.prefix}:keys:used"

    def dni_lease(self, pool_id: str, session: str) -> str:
        return f"{self.prefix}:dni:{{pool:{pool_id}}}:session:{session}"

    def dni_numbers(self, pool_id: str) -> str:
        return f"{self.prefix}:dni:{{pool:{pool_id}}}:lru"

    def dni_owner(self, pool_id: str) -> str:
        return f"{self.prefix}:dni:{{pool:{pool_id}}}:owner"

    def dni_session_leases(self, session: str) -> str:
        return f"{self.prefix}:dni:leases:{{s:{session}}}"

    def velocity(self, caller_hash: str) -> str:
        """A caller's recent pings across every market, its own hash tag (one key: a
        cluster's any slot)."""
        return f"{self.prefix}:{{v:{caller_hash}}}"

    def rate_bucket(self, scope: str, owner: str) -> str:
        """One token bucket, its own hash tag (one key: a cluster's any slot)."""
        return f"{self.prefix}:{{rl:{scope}:{owner}}}"

    def recordings_pending(self) -> str:
        return f"{self.prefix}:recordings:pending"

    def recording_claim(self, recording_sid: str) -> str:
        return f"{self.prefix}:recordings:claim:{recording_sid}"

    def recordings_expiry(self) -> str:
        return f"{self.prefix}:recordings:expiry"

    def recordings_indexed(self) -> str:
        return f"{self.prefix}:recordings:indexed"

    def recordings_pending_indexed(self) -> str:
        """The fetch queue's marker: `recordings_pending` was built from the log."""
        return f"{self.prefix}:recordings:pending:indexed"


def delete_matching(client: redis.Redis, pattern: str, batch: int = 1000) -> int:
    """Delete every key matching `pattern`, `batch` keys per command → how many."""
    deleted = 0
    keys: list[bytes] = []
    for key in client.scan_iter(match=pattern, count=batch):
        keys.append(key)
        if len(keys) >= batch:
            deleted += int(client.delete(*keys))
            keys = []
    if keys:
        deleted += int(client.delete(*keys))
    return deleted

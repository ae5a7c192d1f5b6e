"""Redis's derived state, noticed when it is lost and rebuilt from the log — once, by one
process, while the others refuse with 503 (invariant 4: the log is the truth, Redis is
derived).

How loss is noticed:

* **The markers.** A rebuild's last writes are a marker per market and the namespace's
  generation (`replay.rehydrate.mark_generation`). A flush, or a Redis that restarted empty,
  has none: the ping's first script (`peek`) and the reservation script (`reserve`) answer so,
  and nothing is auctioned on missing state.
* **The server.** The generation records the Redis run id it was built on. A restarted server
  keeps the state when it persists every write it acknowledged (the append-only file: our
  embedded default); without one, a restart may bring back an older state with its markers,
  so `watch` (every follower tick) takes a new run id without an AOF as a loss.
* **A failover.** On a Redis Cluster (`PPCX_REDIS_CLUSTER`) the generation records the node
  ids of the masters serving slots instead; a promoted replica may lack the last writes its
  master acknowledged (replication is asynchronous), so a changed set is a loss too.

How it is rebuilt (`rebuild`): the process that takes the rebuild lock drops the markers first
(every process refuses from then on), waits `DRAIN_S` for the operations that passed a check
just before to finish their appends, folds the log and writes the state
(`replay.rehydrate.rehydrate`), markers last. The lock expires if its holder dies, and is
extended while a long fold runs; every write of a rebuild is absolute, so two that overlap
(a lapsed lease) write the same state.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import orjson
import redis

from eventstore.application import PPCXApplication
from exchange.keys import Keys
from exchange.redis_clients import CLUSTER_IDENTITY_PREFIX, server_identity
from replay.rehydrate import mark_generation, rehydrate

logger = logging.getLogger(__name__)
LOCK_MS = 30_000  # the rebuild lock's lease; renewed every third of it while the fold runs
DRAIN_S = 0.5  # operations that passed a check before the markers went finish their appends
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


@dataclass(frozen=True)
class Generation:
    id: str
    run_id: str


def read_generation(client: redis.Redis, keys: Keys) -> Generation | None:
    raw = client.get(keys.generation())
    if raw is None:
        return None
    data = orjson.loads(raw)
    return Generation(str(data["id"]), str(data.get("run_id", "")))


def ensure(app: PPCXApplication, client: redis.Redis, prefix: str, now: datetime) -> str:
    """At a process's start: the state's generation is there ("present"); or the namespace is
    new and the log empty, so there is nothing to lose ("established"); or it is rebuilt
    ("rebuilt", or "rebuilding" when another process holds the lock)."""
    keys = Keys(prefix)
    if read_generation(client, keys) is not None:
        return "present"
    if app.store.head() == 0 and not client.exists(keys.markets()):
        mark_generation(client, keys, set(), uuid.uuid4().hex)
        return "established"
    return "rebuilt" if rebuild(app, client, prefix, now) is not None else "rebuilding"


def watch(client: redis.Redis, prefix: str) -> bool:
    """One follower tick's check: True when the state must be rebuilt (the server restarted
    without an append-only file under the state's generation, or the generation is gone)."""
    keys = Keys(prefix)
    generation = read_generation(client, keys)
    if generation is None:
        return True
    run_id, aof = server_identity(client)
    if run_id == generation.run_id:
        return False
    if run_id.startswith(CLUSTER_IDENTITY_PREFIX):
        logger.warning("a Redis Cluster master failed over: writes it had not replicated are lost")
        return True
    if aof:  # it restarted from its append-only file: every acknowledged write is there
        client.set(keys.generation(), orjson.dumps({"id": generation.id, "run_id": run_id}))
        return False
    logger.warning("Redis restarted without an append-only file: its state may be stale")
    return True


def rebuild(
    app: PPCXApplication, client: redis.Redis, prefix: str, now: datetime
) -> dict[str, int] | None:
    """Rebuild the state from the log if no other process is doing it → its summary, or None
    when another holds the lock."""
    keys = Keys(prefix)
    token = uuid.uuid4().hex
    if not client.set(keys.rebuild_lock(), token, nx=True, px=LOCK_MS):
        return None
    done = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(client, keys, token, done), name="ppcx-rebuild-lease", daemon=True
    )
    renewer.start()
    started = time.monotonic()
    try:
        client.delete(keys.generation())
        for market in client.smembers(keys.markets()):
            name = market.decode() if isinstance(market, bytes) else str(market)
            client.delete(keys.generation_marker(name))
        time.sleep(DRAIN_S)
        summary = rehydrate(app, client, prefix, now)
        logger.warning(
            "rebuilt Redis's state from the log in %.1f s (position %d, %d open holds)",
            time.monotonic() - started,
            summary["position"],
            summary["open_holds"],
        )
        return summary
    finally:
        done.set()
        renewer.join(timeout=5)
        client.eval(_RELEASE, 1, keys.rebuild_lock(), token)


def _renew(client: redis.Redis, keys: Keys, token: str, done: threading.Event) -> None:
    while not done.wait(LOCK_MS / 3000):
        try:
            client.eval(_RENEW, 1, keys.rebuild_lock(), token, LOCK_MS)
        except redis.RedisError:  # the fold goes on; a second one would write the same state
            logger.warning("could not extend the rebuild lock")

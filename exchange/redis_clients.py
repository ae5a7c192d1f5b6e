"""Redis clients, built in one place: a single server or a Redis Cluster (`PPCX_REDIS_CLUSTER`).

Every key PPCX uses is cluster-safe (see `exchange.keys`): each script's keys share one hash
tag, pipelines are non-transactional, multi-key deletes are split per slot by the cluster
client and a SCAN visits every master. So the code above takes either client; the cluster
ones are `redis.cluster.RedisCluster` / `redis.asyncio.cluster.RedisCluster`, which follow
MOVED/ASK and rediscover the topology after a failover.
"""

from __future__ import annotations

from typing import Any, cast

import redis
import redis.asyncio as aioredis
import redis.asyncio.cluster as aiocluster
import redis.cluster
import redis.exceptions

# What "the state store is unavailable, retry shortly" looks like from either client: a lost
# connection or timeout, and on a cluster the failover window (slots not served, a master
# down, TRYAGAIN during a resharding).
UNAVAILABLE: tuple[type[Exception], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.ClusterError,
    redis.exceptions.TryAgainError,
    redis.exceptions.RedisClusterException,
)


def sync_client(url: str, *, cluster: bool, **options: Any) -> redis.Redis:
    """A blocking client on `url` (a cluster's startup node when `cluster`)."""
    if cluster:
        return cast(redis.Redis, redis.cluster.RedisCluster.from_url(url, **options))
    return redis.Redis.from_url(url, **options)


def async_client(url: str, *, cluster: bool, **options: Any) -> aioredis.Redis:
    """An asyncio client on `url` (a cluster's startup node when `cluster`)."""
    if cluster:
        return cast(aioredis.Redis, aiocluster.RedisCluster.from_url(url, **options))
    return aioredis.Redis.from_url(url, **options)


def is_cluster(client: object) -> bool:
    return isinstance(client, redis.cluster.RedisCluster | aiocluster.RedisCluster)


CLUSTER_IDENTITY_PREFIX = "cluster:"


def server_identity(client: redis.Redis) -> tuple[str, bool]:
    """Which server holds the state, and whether it keeps an append-only file.

    A single server: its run id (new at every restart). A cluster: `cluster:` and the node
    ids of the masters serving slots — a failover promotes a replica, which may lack the
    writes its master acknowledged last (replication is asynchronous), so a changed set is a
    loss; a master restarted in place keeps its node id (its markets' markers tell whether
    it kept its keys)."""
    if is_cluster(client):
        nodes: dict[str, dict[str, Any]] = cast(redis.cluster.RedisCluster, client).cluster_nodes()
        masters = sorted(  # a master serving slots, suspected down or not (a failover
            str(node["node_id"])  # moves its slots to the replica: then it is gone from here)
            for node in nodes.values()
            if "master" in str(node["flags"]).split(",") and node["slots"]
        )
        return CLUSTER_IDENTITY_PREFIX + ",".join(masters), False
    info: dict[str, Any] = client.info()
    return str(info.get("run_id", "")), bool(info.get("aof_enabled"))

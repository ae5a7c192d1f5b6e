"""A cluster on loopback, from the real binaries the project ships (not part of the runtime):
a Redis Cluster (`redis_cluster`), a NATS JetStream cluster (`nats_cluster`) and PPCX "hosts"
— separate `ppcx serve` process groups with their own data directories — on one PostgreSQL
(`hosts`). Used by the cluster tests (`tests/cluster`) and `ppcx-tools bench cluster`."""

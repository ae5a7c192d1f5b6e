"""The names a cluster of hosts agrees on without talking: the NATS servers of one URL
setting, the leader lock's key of a role, the projector's consumer of a DuckDB file."""

from __future__ import annotations

import pytest

from eventstore.leader import lock_key
from eventstore.nats_servers import nats_servers, nats_where
from ppcx.roles import Role, leader_lock
from ppcx.settings import Settings
from projections.projector import DURABLE, durable_for

pytestmark = pytest.mark.unit


def test_one_nats_url_or_a_comma_separated_list() -> None:
    assert nats_servers("nats://127.0.0.1:4222") == ["nats://127.0.0.1:4222"]
    assert nats_servers(" nats://a:4222, nats://b:4223 ,") == ["nats://a:4222", "nats://b:4223"]
    with pytest.raises(ValueError, match="no server"):
        nats_servers(" , ")
    assert nats_where("nats://user:secret@a:4222,nats://b:4223") == "a:4222,b:4223"


def test_the_lock_key_is_one_per_role_and_deployment() -> None:
    keys = {
        lock_key(role, dbname, schema)
        for role in ("relay", "projector")
        for dbname in ("ppcx", "other")
        for schema in ("public", "tenant")
    }
    assert len(keys) == 8
    assert lock_key("relay", "ppcx", "public") == lock_key("relay", "ppcx", "public")
    assert all(-(2**63) <= key < 2**63 for key in keys)  # PostgreSQL's bigint


def test_only_postgresql_elects_a_leader() -> None:
    sqlite = Settings(persistence_module="eventsourcing.sqlite")
    postgres = Settings(persistence_module="eventsourcing.postgres", POSTGRES_SCHEMA="s1")
    assert leader_lock(sqlite, Role.RELAY) is None
    lock = leader_lock(postgres, Role.RELAY)  # no connection until it is tried
    assert lock is not None
    assert lock.key == lock_key("relay", postgres.postgres_dbname, "s1")


def test_each_duckdb_file_has_a_consumer_of_its_own() -> None:
    names = {durable_for(host, path) for host in ("h1", "h2") for path in ("/a.db", "/b.db")}
    assert len(names) == 4
    assert all(name.startswith(f"{DURABLE}-") for name in names)

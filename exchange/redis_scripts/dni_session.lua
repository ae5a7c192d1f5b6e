-- Remember which number a web session leased in a pool, so a ping that names only the session
-- finds its lease. The pool's own keys live in the pool's hash slot and this one in the
-- session's, so it is written by a call of its own, right after dni_lease.
-- KEYS: 1 the session's leases (hash: pool id -> number)
-- ARGV: 1 pool id, 2 number, 3 ttl_ms (the lease's)
-- The hash lives as long as the session's longest lease: its TTL is only ever extended. An
-- entry may outlive its lease (or the number may have been taken by another session): readers
-- check the pool's owner record.
local ttl = tonumber(ARGV[3])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if redis.call('PTTL', KEYS[1]) < ttl then redis.call('PEXPIRE', KEYS[1], ttl) end
return 1

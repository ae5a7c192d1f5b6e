-- Claim up to N reservations whose expiry has passed, for the sweeper. A claim is a lease:
-- the entry's score moves to now + lease, so if the claiming process dies another sweeper
-- picks it up after the lease; a completed release removes it.
-- KEYS: 1 expiries
-- ARGV: 1 now_ms, 2 limit, 3 lease_ms
-- Returns the claimed hold ids.
local now, lease = tonumber(ARGV[1]), tonumber(ARGV[3])
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, h in ipairs(due) do redis.call('ZADD', KEYS[1], now + lease, h) end
return due

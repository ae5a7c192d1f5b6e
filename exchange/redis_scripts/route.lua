-- The call was posted (or failed over to this hold): keep the reservation for the length of
-- a call rather than the bid's expiry.
-- KEYS: 1 live:<target>, 2 holds:<buyer>, 3 res:<hold>, 4 expiries
-- ARGV: 1 hold, 2 new expiry ms, 3 reservation ttl_ms
-- Returns 1 extended, 0 the reservation is gone (expired or lost with Redis).
local hold, expires = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
redis.call('HSET', KEYS[3], 'state', 'routed', 'expires', expires)
redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[3]))
redis.call('ZADD', KEYS[1], 'XX', expires, hold)
redis.call('ZADD', KEYS[2], 'XX', expires, hold)
redis.call('ZADD', KEYS[4], expires, hold)
return 1

-- Lease a DNI pool number to a web session: the session's number while its lease lives,
-- otherwise the least recently used number of the pool (taken from whoever had it).
-- KEYS: 1 the session's lease (string), 2 numbers by last use (zset), 3 owners (hash:
--       number -> JSON {session, expires_ms, attribution})
-- ARGV: 1 session, 2 now_ms, 3 ttl_ms, 4 attribution JSON
-- Returns {number, reused (1 when a live lease was taken from another session)} or {} when
-- the pool has no numbers.
local session, now, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local current = redis.call('GET', KEYS[1])
if current then
  local record = redis.call('HGET', KEYS[3], current)
  if record then
    local owner = cjson.decode(record)
    if owner.session == session then
      owner.expires_ms = now + ttl
      redis.call('HSET', KEYS[3], current, cjson.encode(owner))
      redis.call('ZADD', KEYS[2], now, current)
      redis.call('PEXPIRE', KEYS[1], ttl)
      return {current, 0}
    end
  end
end
local pick = redis.call('ZRANGE', KEYS[2], 0, 0)[1]
if not pick then return {} end
local reused = 0
local previous = redis.call('HGET', KEYS[3], pick)
if previous and tonumber(cjson.decode(previous).expires_ms) > now then reused = 1 end
local owner = {session = session, expires_ms = now + ttl, leased_ms = now,
               attribution = cjson.decode(ARGV[4])}
redis.call('HSET', KEYS[3], pick, cjson.encode(owner))
redis.call('ZADD', KEYS[2], now, pick)
redis.call('SET', KEYS[1], pick, 'PX', ttl)
return {pick, reused}

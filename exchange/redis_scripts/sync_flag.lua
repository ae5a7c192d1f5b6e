-- A versioned flag or timestamp in a hash (block list, duplicate index): newer wins.
-- KEYS: 1 hash
-- ARGV: 1 field, 2 version, 3 value, 4 ttl_ms (0: keep)
local current = redis.call('HGET', KEYS[1], ARGV[1])
if current then
  local v = tonumber(string.match(current, '^(%d+):'))
  if v and v >= tonumber(ARGV[2]) then return 0 end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ':' .. ARGV[3])
if tonumber(ARGV[4]) > 0 then redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[4])) end
return 1

-- Write an aggregate's JSON into the market's config hash unless a newer version is there
-- (two processes following the log may race; the newer state always wins).
-- KEYS: 1 cfg
-- ARGV: 1 field, 2 version, 3 json, 4 log position
-- Returns 1 written, 0 an equal or newer version was already there.
local current = redis.call('HGET', KEYS[1], ARGV[1])
local written = 0
if (not current) or cjson.decode(current).version < tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
  redis.call('HINCRBY', KEYS[1], 'version', 1)
  written = 1
end
local position = tonumber(redis.call('HGET', KEYS[1], 'position') or '0')
if tonumber(ARGV[4]) > position then redis.call('HSET', KEYS[1], 'position', ARGV[4]) end
return written

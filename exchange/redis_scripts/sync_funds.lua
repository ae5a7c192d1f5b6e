-- A buyer's posted balance and credit limit, as of an aggregate version (newer wins).
-- KEYS: 1 funds
-- ARGV: 1 buyer, 2 version, 3 posted cents, 4 credit limit cents
local b = ARGV[1]
local current = tonumber(redis.call('HGET', KEYS[1], b .. ':v') or '0')
if current >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], b .. ':v', ARGV[2], b .. ':posted', ARGV[3], b .. ':limit', ARGV[4])
return 1

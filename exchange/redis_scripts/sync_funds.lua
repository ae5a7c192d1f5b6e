-- A buyer's posted balance and credit limit, as of an aggregate version (newer wins). When
-- the buyer's headroom grows (a deposit, a refund, a higher limit), the market's
-- funds_version moves, so every process's cached headroom is read again by the next ping.
-- KEYS: 1 funds, 2 cfg
-- ARGV: 1 buyer, 2 version, 3 posted cents, 4 credit limit cents
local b = ARGV[1]
local f = redis.call('HMGET', KEYS[1], b .. ':v', b .. ':posted', b .. ':limit')
if (tonumber(f[1]) or 0) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], b .. ':v', ARGV[2], b .. ':posted', ARGV[3], b .. ':limit', ARGV[4])
if tonumber(ARGV[3]) + tonumber(ARGV[4]) > (tonumber(f[2]) or 0) + (tonumber(f[3]) or 0) then
  redis.call('HINCRBY', KEYS[2], 'funds_version', 1)
end
return 1

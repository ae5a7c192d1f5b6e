-- Atomically re-check one target's caps and concurrency and its buyer's funds, and reserve:
-- a live call on the target, a hold of the price on the buyer, the period counts and spend.
-- KEYS: 1 caps, 2 funds, 3 live:<target>, 4 holds:<buyer>, 5 held:<buyer>, 6 res:<hold>,
--       7 expiries, 8 the market's generation marker
-- ARGV: 1 target, 2 buyer, 3 hold, 4 call, 5 price, 6 now_ms, 7 expires_ms,
--       8 cap concurrency, 9 hourly, 10 daily, 11 monthly, 12 daily budget (-1: none),
--       13 hour period, 14 day period, 15 month period, 16 reservation ttl_ms, 17 market
-- Returns 1 reserved, 2 already reserved, -1 concurrency, -2 hourly, -3 daily, -4 monthly,
--         -5 budget, -6 funds, -9 the market's state is lost (no generation marker: counts
--         and holds may be missing, so nothing is reserved until they are rebuilt).
local t, b, hold, call = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local price, now, expires = tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7])
local hour, day, month = ARGV[13], ARGV[14], ARGV[15]

if redis.call('EXISTS', KEYS[8]) == 0 then return -9 end
if redis.call('EXISTS', KEYS[6]) == 1 then return 2 end

-- expired live calls no longer count (bounded work per call)
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', now, 'LIMIT', 0, 32)) do
  redis.call('ZREM', KEYS[3], h)
end
-- the buyer's expired holds give their funds back (each amount exactly once)
for _, h in ipairs(redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', now, 'LIMIT', 0, 32)) do
  redis.call('ZREM', KEYS[4], h)
  local amount = redis.call('HGET', KEYS[5], h)
  if amount then
    redis.call('HDEL', KEYS[5], h)
    redis.call('HINCRBY', KEYS[2], b .. ':held', -tonumber(amount))
  end
end

local function cap(i) return tonumber(ARGV[i]) end
local c = redis.call('HMGET', KEYS[1], t .. ':h', t .. ':hp', t .. ':d', t .. ':dp',
                     t .. ':m', t .. ':mp', t .. ':s', t .. ':sp')
local function current(count, period, now_period)
  if period == now_period then return tonumber(count) or 0 end
  return 0
end
local hourly, daily = current(c[1], c[2], hour), current(c[3], c[4], day)
local monthly, spend = current(c[5], c[6], month), current(c[7], c[8], day)

if cap(8) >= 0 and redis.call('ZCARD', KEYS[3]) >= cap(8) then return -1 end
if cap(9) >= 0 and hourly >= cap(9) then return -2 end
if cap(10) >= 0 and daily >= cap(10) then return -3 end
if cap(11) >= 0 and monthly >= cap(11) then return -4 end
if cap(12) >= 0 and spend + price > cap(12) then return -5 end

local f = redis.call('HMGET', KEYS[2], b .. ':posted', b .. ':limit', b .. ':held')
local posted, limit, held = tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0
if posted - held - price < -limit then return -6 end

redis.call('ZADD', KEYS[3], expires, hold)
redis.call('ZADD', KEYS[4], expires, hold)
redis.call('HSET', KEYS[5], hold, price)
redis.call('HINCRBY', KEYS[2], b .. ':held', price)
redis.call('HSET', KEYS[1], t .. ':h', hourly + 1, t .. ':hp', hour, t .. ':d', daily + 1,
           t .. ':dp', day, t .. ':m', monthly + 1, t .. ':mp', month,
           t .. ':s', spend + price, t .. ':sp', day)
redis.call('HSET', KEYS[6], 'call', call, 'target', t, 'buyer', b, 'price', price,
           'hp', hour, 'dp', day, 'mp', month, 'state', 'reserved', 'expires', expires,
           'market', ARGV[17])
redis.call('PEXPIRE', KEYS[6], tonumber(ARGV[16]))
redis.call('ZADD', KEYS[7], expires, hold)
return 1

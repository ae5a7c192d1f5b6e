-- Release a reservation: its live call and its hold always; the period counts and spend
-- depending on how it ended. Each piece is given back once, guarded by its own membership,
-- so a release after a lazy clean-up (or a second release) changes nothing twice.
-- KEYS: 1 caps, 2 funds, 3 live:<target>, 4 holds:<buyer>, 5 held:<buyer>, 6 res:<hold>,
--       7 expiries
-- ARGV: 1 hold, 2 mode: "void" (never routed to a call: counts and spend are undone),
--       "end" (routed, not billed: spend is undone), "settle" (billed: counts and spend stay)
-- Returns 1 released, 0 nothing to release.
local hold, mode = ARGV[1], ARGV[2]
local r = redis.call('HMGET', KEYS[6], 'target', 'buyer', 'price', 'hp', 'dp', 'mp')
redis.call('ZREM', KEYS[7], hold)
if not r[1] then return 0 end
local t, b, price = r[1], r[2], tonumber(r[3])

redis.call('ZREM', KEYS[3], hold)
redis.call('ZREM', KEYS[4], hold)
local amount = redis.call('HGET', KEYS[5], hold)
if amount then
  redis.call('HDEL', KEYS[5], hold)
  redis.call('HINCRBY', KEYS[2], b .. ':held', -tonumber(amount))
end

local c = redis.call('HMGET', KEYS[1], t .. ':hp', t .. ':dp', t .. ':mp', t .. ':sp')
if mode == 'void' then
  if c[1] == r[4] then redis.call('HINCRBY', KEYS[1], t .. ':h', -1) end
  if c[2] == r[5] then redis.call('HINCRBY', KEYS[1], t .. ':d', -1) end
  if c[3] == r[6] then redis.call('HINCRBY', KEYS[1], t .. ':m', -1) end
end
if (mode == 'void' or mode == 'end') and c[4] == r[5] then
  redis.call('HINCRBY', KEYS[1], t .. ':s', -price)
end
redis.call('DEL', KEYS[6])
return 1

-- Caller velocity (KEYS[1], a sorted set: call id → ping time ms, one per caller hash): count
-- the caller's earlier pings within the window, then add this one. Time is given.
-- ARGV: now_ms, window_ms (0: count nothing, only add), call id, keep_ms (the longest window
--       any campaign may set), kept_max (at most this many pings kept: the newest)
-- → the count of other pings with now_ms - window_ms < time ≤ now_ms
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local keep = tonumber(ARGV[4])
local kept_max = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - keep)
local count = 0
if window > 0 then
  count = redis.call('ZCOUNT', KEYS[1], '(' .. (now - window), now)
  local mine = tonumber(redis.call('ZSCORE', KEYS[1], ARGV[3]))
  if mine and mine > now - window and mine <= now then count = count - 1 end  -- a retry
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
local size = redis.call('ZCARD', KEYS[1])
if size > kept_max then redis.call('ZREMRANGEBYRANK', KEYS[1], 0, size - kept_max - 1) end
redis.call('PEXPIRE', KEYS[1], keep)
return count

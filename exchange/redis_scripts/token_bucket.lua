-- One token bucket (KEYS[1], a hash: t = milli-tokens, at = ms of the last refill, r = refusals
-- not yet reported, rep = ms of the last report). Integer math only; time is given.
-- ARGV: now_ms, rate_per_s (tokens a second = milli-tokens a millisecond), burst (tokens),
--       report_every_ms (refusals are reported at most this often).
-- → {allowed 0|1, remaining tokens, retry_after_ms, full_after_ms, reported refusals, since_ms}
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local report_every = tonumber(ARGV[4])
local cap = burst * 1000
local state = redis.call('HMGET', KEYS[1], 't', 'at', 'r', 'rep')
local tokens = tonumber(state[1]) or cap
local at = tonumber(state[2]) or now
local refused = tonumber(state[3]) or 0
local reported_at = tonumber(state[4]) or -1
if now > at then
  -- no overflow: a full bucket stops the refill at its capacity
  local elapsed = now - at
  if elapsed >= cap then
    tokens = cap
  else
    tokens = math.min(cap, tokens + elapsed * rate)
  end
  at = now
end
if tokens > cap then tokens = cap end  -- a lowered burst
local allowed = 0
local report = 0
local since = reported_at
if tokens >= 1000 then
  tokens = tokens - 1000
  allowed = 1
else
  refused = refused + 1
  if reported_at < 0 or now - reported_at >= report_every then
    report = refused
    refused = 0
    reported_at = now
  end
end
local retry_after = 0
if tokens < 1000 then retry_after = math.floor((1000 - tokens + rate - 1) / rate) end
local full_after = math.floor((cap - tokens + rate - 1) / rate)
redis.call('HSET', KEYS[1], 't', tokens, 'at', at, 'r', refused, 'rep', reported_at)
-- a bucket left alone refills; once full (and its refusals reported) it may go
redis.call('PEXPIRE', KEYS[1], full_after + report_every + 1000)
return {allowed, math.floor(tokens / 1000), retry_after, full_after, report, since}

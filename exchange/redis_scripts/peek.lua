-- What a ping needs to know before the market snapshot, in one call: the config version,
-- the caller's unexpired bid, the buyers who paid for this caller, the block flag, and the
-- funds version (moved when a buyer's headroom grew).
-- (One script, not a pipeline of five reads: the client packs and parses one command.)
-- KEYS: 1 config, 2 last ping of the caller, campaign and publisher, 3 duplicates of the
--       caller, 4 blocked, 5 the market's generation marker (missing: the state is lost)
-- ARGV: 1 caller hash
-- Returns {version or false, last call id or false, {buyer, value, ...}, flag or false,
--          funds version or false, generation or false}.
return {
  redis.call('HGET', KEYS[1], 'version'),
  redis.call('GET', KEYS[2]),
  redis.call('HGETALL', KEYS[3]),
  redis.call('HGET', KEYS[4], ARGV[1]),
  redis.call('HGET', KEYS[1], 'funds_version'),
  redis.call('GET', KEYS[5]),
}

-- An accepted bid's state, and the caller's last ping for its campaign, once it is durable.
-- KEYS: 1 ping:<call>, 2 last ping of the caller and campaign
-- ARGV: 1 state (JSON), 2 call id, 3 state ttl_ms, 4 bid ttl_ms
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
return 1

-- One batch of events → table rows, in DuckDB's vectorized JSON functions.
-- The batch is staged as ev(notification_id, name, originator_id, originator_version, state)
-- where name is 'Aggregate.Event' and state the event's JSON; only events after the stored
-- position are staged. Statements run in this order inside the batch's transaction.

-- the set-up: a row per object created, then every change merged into its current values
INSERT INTO publishers
SELECT originator_id, json_extract_string(state, '$.name'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ), false, 'active',
       json_extract_string(state, '$.by'), originator_version,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by')
FROM ev WHERE name = 'Publisher.Registered'
ON CONFLICT (publisher_id) DO NOTHING;

INSERT INTO buyers
SELECT originator_id, json_extract_string(state, '$.name'), json_extract_string(state, '$.time_zone'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.market'),
       CAST(json_extract_string(state, '$.credit_limit_cents') AS BIGINT),
       json_extract_string(state, '$.by'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by')
FROM ev WHERE name = 'Buyer.Registered'
ON CONFLICT (buyer_id) DO NOTHING;

INSERT INTO campaigns
SELECT originator_id, json_extract_string(state, '$.name'), json_extract_string(state, '$.vertical'), json_extract_string(state, '$.market'),
       CASE WHEN json_extract_string(state, '$.payout.fixed_cents') IS NOT NULL
            THEN 'fixed ' || (json_extract_string(state, '$.payout.fixed_cents'))
            ELSE 'share ' || (json_extract_string(state, '$.payout.share')) END,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       CAST(json_extract(state, '$.payout') AS VARCHAR),
       CAST(json_extract_string(state, '$.duplicate_window_days') AS INTEGER),
       json_extract_string(state, '$.distribution'),
       CAST(json_extract_string(state, '$.min_bid_cents') AS BIGINT),
       CAST(json_extract_string(state, '$.min_margin_cents') AS BIGINT),
       CAST(json_extract_string(state, '$.allow_negative_margin') AS BOOLEAN),
       CAST(json_extract_string(state, '$.max_attempts') AS INTEGER),
       CAST(json_extract_string(state, '$.bid_ttl_s') AS INTEGER),
       CAST(json_extract_string(state, '$.rtb_deadline_ms') AS INTEGER),
       json_extract_string(state, '$.by'), originator_version,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by'), NULL, NULL, NULL, NULL, false, false, NULL
FROM ev WHERE name = 'Campaign.Created'
ON CONFLICT (campaign_id) DO NOTHING;

INSERT INTO targets
SELECT originator_id, json_extract_string(state, '$.buyer_id'), json_extract_string(state, '$.campaign_id'), json_extract_string(state, '$.name'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.destination'),
       CAST(json_extract_string(state, '$.bid_cents') AS BIGINT),
       json_extract_string(state, '$.rtb_url'),
       CAST(json_extract_string(state, '$.rtb_timeout_ms') AS INTEGER),
       CAST(json_extract_string(state, '$.buffer_s') AS INTEGER),
       CAST(json_extract(state, '$.geo') AS VARCHAR),
       CAST(json_extract(state, '$.schedule') AS VARCHAR),
       CAST(json_extract(state, '$.caps') AS VARCHAR),
       CAST(json_extract_string(state, '$.priority') AS INTEGER),
       CAST(json_extract_string(state, '$.weight') AS INTEGER),
       false, false, 'active', json_extract_string(state, '$.by'), originator_version,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by'), NULL, false, NULL
FROM ev WHERE name = 'Target.Created'
ON CONFLICT (target_id) DO NOTHING;

INSERT INTO tracking_numbers
SELECT json_extract_string(state, '$.number'), json_extract_string(state, '$.campaign_id'), json_extract_string(state, '$.publisher_id'), json_extract_string(state, '$.source'),
       json_extract_string(state, '$.medium'), json_extract_string(state, '$.keyword'), json_extract_string(state, '$.pool_id'),
       originator_id, CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ)
FROM ev WHERE name = 'TrackingNumber.Provisioned'
ON CONFLICT (number) DO NOTHING;

INSERT INTO number_pools
SELECT originator_id, json_extract_string(state, '$.name'), json_extract_string(state, '$.campaign_id'),
       json_extract_string(state, '$.publisher_id'), CAST(json_extract(state, '$.numbers') AS VARCHAR),
       CAST(json_extract_string(state, '$.lease_ttl_s') AS INTEGER), '[]',
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by'), originator_version,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by')
FROM ev WHERE name = 'NumberPool.Created'
ON CONFLICT (pool_id) DO NOTHING;

INSERT INTO api_keys
SELECT originator_id, json_extract_string(state, '$.role'), json_extract_string(state, '$.owner_id'),
       json_extract_string(state, '$.label'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by'), NULL, NULL, NULL
FROM ev WHERE name = 'ApiKey.Issued'
ON CONFLICT (key_id) DO NOTHING;

-- webhooks: a row per registration, then each batch's last change, status and secret version
INSERT INTO webhooks
SELECT originator_id, json_extract_string(state, '$.owner_role'),
       json_extract_string(state, '$.owner_id'), json_extract_string(state, '$.url'),
       json_extract_string(state, '$.method'), CAST(json_extract(state, '$.events') AS VARCHAR),
       json_extract_string(state, '$.description'), 'active', 1,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by'), originator_version,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by')
FROM ev WHERE name = 'Webhook.Registered'
ON CONFLICT (webhook_id) DO NOTHING;

UPDATE webhooks SET
    url = json_extract_string(c.state, '$.url'),
    method = json_extract_string(c.state, '$.method'),
    events = CAST(json_extract(c.state, '$.events') AS VARCHAR),
    description = json_extract_string(c.state, '$.description')
FROM (SELECT originator_id AS id, arg_max(state, notification_id) AS state
      FROM ev WHERE name = 'Webhook.Changed' GROUP BY originator_id) c
WHERE webhooks.webhook_id = c.id;

UPDATE webhooks SET
    secret_version = CAST(json_extract_string(c.state, '$.version') AS INTEGER)
FROM (SELECT originator_id AS id, arg_max(state, notification_id) AS state
      FROM ev WHERE name = 'Webhook.SecretRotated' GROUP BY originator_id) c
WHERE webhooks.webhook_id = c.id;

UPDATE webhooks SET status = c.status
FROM (SELECT originator_id AS id,
             arg_max(CASE name WHEN 'Webhook.Paused' THEN 'paused'
                               WHEN 'Webhook.Resumed' THEN 'active' ELSE 'removed' END,
                     notification_id) AS status
      FROM ev WHERE name IN ('Webhook.Paused', 'Webhook.Resumed', 'Webhook.Removed')
      GROUP BY originator_id) c
WHERE webhooks.webhook_id = c.id;

UPDATE webhooks SET
    version = c.version,
    changed_at = CAST(json_extract_string(c.state, '$.timestamp') AS TIMESTAMPTZ),
    changed_by = json_extract_string(c.state, '$.by')
FROM (SELECT originator_id AS id, max(originator_version) AS version,
             arg_max(state, notification_id) AS state
      FROM ev WHERE name LIKE 'Webhook.%' GROUP BY originator_id) c
WHERE webhooks.webhook_id = c.id;

-- every change after a creation as (object, key, new JSON value): the last value per key wins
CREATE OR REPLACE TEMP TABLE setup_sets AS
SELECT id, notification_id, key, json_extract(changes, '$.' || key) AS value
FROM (SELECT id, notification_id, changes, unnest(json_keys(changes)) AS key
      FROM (SELECT originator_id AS id, notification_id,
                   CASE name
                       WHEN 'Target.StandingBidSet'
                           THEN json_object('bid_cents', json_extract(state, '$.bid_cents'))
                       WHEN 'Target.Paused' THEN json_object('paused', true)
                       WHEN 'Target.Resumed' THEN json_object('paused', false)
                       WHEN 'Target.Archived' THEN json_object('archived', true)
                       WHEN 'Publisher.Renamed'
                           THEN json_object('name', json_extract(state, '$.name'))
                       WHEN 'Publisher.Suspended' THEN json_object('suspended', true)
                       WHEN 'Publisher.Reinstated' THEN json_object('suspended', false)
                       WHEN 'Buyer.CreditLimitChanged'
                           THEN json_object('credit_limit_cents',
                                            json_extract(state, '$.credit_limit_cents'))
                       WHEN 'NumberPool.OriginsAllowed'
                           THEN json_object('allowed_origins', json_extract(state, '$.origins'))
                       WHEN 'ApiKey.ExpirySet'
                           THEN json_object('expires_at', json_extract(state, '$.expires_at'))
                       WHEN 'ApiKey.ExpiredUnused'
                           THEN json_object('expires_at', json_extract(state, '$.expires_at'))
                       WHEN 'Target.AutoPaused' THEN json_object('paused', true)
                       WHEN 'ApiKey.Revoked'
                           THEN json_object('revoked_at', json_extract(state, '$.timestamp'),
                                            'revoked_by', json_extract(state, '$.by'))
                       ELSE json_extract(state, '$.changes') END AS changes
            FROM ev
            WHERE name IN ('Target.StandingBidSet', 'Target.Paused', 'Target.Resumed',
                           'Target.Archived', 'Target.RulesChanged', 'Campaign.RulesChanged',
                           'Publisher.Renamed', 'Publisher.Suspended', 'Publisher.Reinstated',
                           'Buyer.CreditLimitChanged', 'Buyer.ProfileChanged',
                           'NumberPool.OriginsAllowed', 'ApiKey.ExpirySet', 'ApiKey.Revoked',
                           'ApiKey.ExpiredUnused', 'Target.AutoPaused')));

CREATE OR REPLACE TEMP TABLE setup_last AS
SELECT id, key, arg_max(value, notification_id) AS value
FROM setup_sets GROUP BY id, key;

-- when and by whom each object was last changed (its newest set-up event of the batch)
CREATE OR REPLACE TEMP TABLE setup_touched AS
SELECT originator_id AS id, max(originator_version) AS version,
       arg_max(CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ), notification_id)
           AS changed_at,
       arg_max(json_extract_string(state, '$.by'), notification_id) AS changed_by
FROM ev
WHERE (name LIKE 'Target.%' AND name <> 'Target.CallUnanswered') OR name LIKE 'Campaign.%'
   OR name LIKE 'Publisher.%' OR name LIKE 'NumberPool.%'
   OR name IN ('Buyer.CreditLimitChanged', 'Buyer.ProfileChanged')
GROUP BY originator_id;

UPDATE targets SET
    name = coalesce(json_extract_string(c.name, '$'), targets.name),
    destination = coalesce(json_extract_string(c.destination, '$'), targets.destination),
    bid_cents = CASE WHEN c.bid_cents IS NULL THEN targets.bid_cents
                     ELSE CAST(json_extract_string(c.bid_cents, '$') AS BIGINT) END,
    rtb_url = CASE WHEN c.rtb_url IS NULL THEN targets.rtb_url
                   ELSE json_extract_string(c.rtb_url, '$') END,
    rtb_timeout_ms = coalesce(CAST(json_extract_string(c.rtb_timeout_ms, '$') AS INTEGER),
                              targets.rtb_timeout_ms),
    buffer_s = coalesce(CAST(json_extract_string(c.buffer_s, '$') AS INTEGER), targets.buffer_s),
    geo = coalesce(CAST(c.geo AS VARCHAR), targets.geo),
    schedule = coalesce(CAST(c.schedule AS VARCHAR), targets.schedule),
    caps = coalesce(CAST(c.caps AS VARCHAR), targets.caps),
    priority = coalesce(CAST(json_extract_string(c.priority, '$') AS INTEGER), targets.priority),
    weight = coalesce(CAST(json_extract_string(c.weight, '$') AS INTEGER), targets.weight),
    paused = coalesce(CAST(json_extract_string(c.paused, '$') AS BOOLEAN), targets.paused),
    archived = coalesce(CAST(json_extract_string(c.archived, '$') AS BOOLEAN), targets.archived),
    auto_pause = coalesce(CAST(c.auto_pause AS VARCHAR), targets.auto_pause),
    requires_consent = coalesce(CAST(json_extract_string(c.requires_consent, '$') AS BOOLEAN),
                                targets.requires_consent),
    requires_tags = coalesce(CAST(c.requires_tags AS VARCHAR), targets.requires_tags)
FROM (SELECT id,
             any_value(value) FILTER (WHERE key = 'name') AS name,
             any_value(value) FILTER (WHERE key = 'destination') AS destination,
             any_value(value) FILTER (WHERE key = 'bid_cents') AS bid_cents,
             any_value(value) FILTER (WHERE key = 'rtb_url') AS rtb_url,
             any_value(value) FILTER (WHERE key = 'rtb_timeout_ms') AS rtb_timeout_ms,
             any_value(value) FILTER (WHERE key = 'buffer_s') AS buffer_s,
             any_value(value) FILTER (WHERE key = 'geo') AS geo,
             any_value(value) FILTER (WHERE key = 'schedule') AS schedule,
             any_value(value) FILTER (WHERE key = 'caps') AS caps,
             any_value(value) FILTER (WHERE key = 'priority') AS priority,
             any_value(value) FILTER (WHERE key = 'weight') AS weight,
             any_value(value) FILTER (WHERE key = 'paused') AS paused,
             any_value(value) FILTER (WHERE key = 'archived') AS archived,
             any_value(value) FILTER (WHERE key = 'auto_pause') AS auto_pause,
             any_value(value) FILTER (WHERE key = 'requires_consent') AS requires_consent,
             any_value(value) FILTER (WHERE key = 'requires_tags') AS requires_tags
      FROM setup_last WHERE id LIKE 'tgt\_%' ESCAPE '\' GROUP BY id) c
WHERE targets.target_id = c.id;

UPDATE campaigns SET
    name = coalesce(json_extract_string(c.name, '$'), campaigns.name),
    vertical = coalesce(json_extract_string(c.vertical, '$'), campaigns.vertical),
    payout_rule = coalesce(CAST(c.payout AS VARCHAR), campaigns.payout_rule),
    duplicate_window_days = coalesce(CAST(json_extract_string(c.duplicate_window_days, '$')
                                          AS INTEGER), campaigns.duplicate_window_days),
    distribution = coalesce(json_extract_string(c.distribution, '$'), campaigns.distribution),
    min_bid_cents = coalesce(CAST(json_extract_string(c.min_bid_cents, '$') AS BIGINT),
                             campaigns.min_bid_cents),
    min_margin_cents = coalesce(CAST(json_extract_string(c.min_margin_cents, '$') AS BIGINT),
                                campaigns.min_margin_cents),
    allow_negative_margin = coalesce(CAST(json_extract_string(c.allow_negative_margin, '$')
                                          AS BOOLEAN), campaigns.allow_negative_margin),
    max_attempts = coalesce(CAST(json_extract_string(c.max_attempts, '$') AS INTEGER),
                            campaigns.max_attempts),
    bid_ttl_s = coalesce(CAST(json_extract_string(c.bid_ttl_s, '$') AS INTEGER),
                         campaigns.bid_ttl_s),
    rtb_deadline_ms = coalesce(CAST(json_extract_string(c.rtb_deadline_ms, '$') AS INTEGER),
                               campaigns.rtb_deadline_ms),
    ivr = coalesce(CAST(c.ivr AS VARCHAR), campaigns.ivr),
    buzzer_margin_s = coalesce(CAST(json_extract_string(c.buzzer_margin_s, '$') AS INTEGER),
                               campaigns.buzzer_margin_s),
    short_call_s = coalesce(CAST(json_extract_string(c.short_call_s, '$') AS INTEGER),
                            campaigns.short_call_s),
    bill_buzzer_beaters = coalesce(CAST(json_extract_string(c.bill_buzzer_beaters, '$')
                                        AS BOOLEAN), campaigns.bill_buzzer_beaters),
    exclude_toll_free = coalesce(CAST(json_extract_string(c.exclude_toll_free, '$') AS BOOLEAN),
                                 campaigns.exclude_toll_free),
    exclude_premium_rate = coalesce(CAST(json_extract_string(c.exclude_premium_rate, '$')
                                         AS BOOLEAN), campaigns.exclude_premium_rate),
    velocity = coalesce(CAST(c.velocity AS VARCHAR), campaigns.velocity)
FROM (SELECT id,
             any_value(value) FILTER (WHERE key = 'name') AS name,
             any_value(value) FILTER (WHERE key = 'vertical') AS vertical,
             any_value(value) FILTER (WHERE key = 'payout') AS payout,
             any_value(value) FILTER (WHERE key = 'duplicate_window_days')
                 AS duplicate_window_days,
             any_value(value) FILTER (WHERE key = 'distribution') AS distribution,
             any_value(value) FILTER (WHERE key = 'min_bid_cents') AS min_bid_cents,
             any_value(value) FILTER (WHERE key = 'min_margin_cents') AS min_margin_cents,
             any_value(value) FILTER (WHERE key = 'allow_negative_margin')
                 AS allow_negative_margin,
             any_value(value) FILTER (WHERE key = 'max_attempts') AS max_attempts,
             any_value(value) FILTER (WHERE key = 'bid_ttl_s') AS bid_ttl_s,
             any_value(value) FILTER (WHERE key = 'rtb_deadline_ms') AS rtb_deadline_ms,
             any_value(value) FILTER (WHERE key = 'ivr') AS ivr,
             any_value(value) FILTER (WHERE key = 'buzzer_margin_s') AS buzzer_margin_s,
             any_value(value) FILTER (WHERE key = 'short_call_s') AS short_call_s,
             any_value(value) FILTER (WHERE key = 'bill_buzzer_beaters') AS bill_buzzer_beaters,
             any_value(value) FILTER (WHERE key = 'exclude_toll_free') AS exclude_toll_free,
             any_value(value) FILTER (WHERE key = 'exclude_premium_rate')
                 AS exclude_premium_rate,
             any_value(value) FILTER (WHERE key = 'velocity') AS velocity
      FROM setup_last WHERE id LIKE 'cmp\_%' ESCAPE '\' GROUP BY id) c
WHERE campaigns.campaign_id = c.id;

-- the short description of a payout (`fixed <cents>`, `share <fraction>`) follows the rule
UPDATE campaigns SET
    payout = CASE WHEN json_extract_string(payout_rule, '$.fixed_cents') IS NOT NULL
                  THEN 'fixed ' || json_extract_string(payout_rule, '$.fixed_cents')
                  ELSE 'share ' || json_extract_string(payout_rule, '$.share') END
WHERE campaign_id IN (SELECT id FROM setup_last WHERE key = 'payout');

UPDATE publishers SET
    name = coalesce(json_extract_string(c.name, '$'), publishers.name),
    suspended = coalesce(CAST(json_extract_string(c.suspended, '$') AS BOOLEAN),
                         publishers.suspended)
FROM (SELECT id,
             any_value(value) FILTER (WHERE key = 'name') AS name,
             any_value(value) FILTER (WHERE key = 'suspended') AS suspended
      FROM setup_last WHERE id LIKE 'pub\_%' ESCAPE '\' GROUP BY id) c
WHERE publishers.publisher_id = c.id;

UPDATE buyers SET
    name = coalesce(json_extract_string(c.name, '$'), buyers.name),
    time_zone = coalesce(json_extract_string(c.time_zone, '$'), buyers.time_zone),
    credit_limit_cents = coalesce(CAST(json_extract_string(c.credit_limit_cents, '$') AS BIGINT),
                                  buyers.credit_limit_cents)
FROM (SELECT id,
             any_value(value) FILTER (WHERE key = 'name') AS name,
             any_value(value) FILTER (WHERE key = 'time_zone') AS time_zone,
             any_value(value) FILTER (WHERE key = 'credit_limit_cents') AS credit_limit_cents
      FROM setup_last WHERE id LIKE 'buy\_%' ESCAPE '\' GROUP BY id) c
WHERE buyers.buyer_id = c.id;

UPDATE number_pools SET allowed_origins = CAST(c.value AS VARCHAR)
FROM setup_last c
WHERE number_pools.pool_id = c.id AND c.key = 'allowed_origins';

UPDATE api_keys SET
    expires_at = coalesce(CAST(json_extract_string(c.expires_at, '$') AS TIMESTAMPTZ),
                          api_keys.expires_at),
    revoked_at = coalesce(CAST(json_extract_string(c.revoked_at, '$') AS TIMESTAMPTZ),
                          api_keys.revoked_at),
    revoked_by = coalesce(json_extract_string(c.revoked_by, '$'), api_keys.revoked_by)
FROM (SELECT id,
             any_value(value) FILTER (WHERE key = 'expires_at') AS expires_at,
             any_value(value) FILTER (WHERE key = 'revoked_at') AS revoked_at,
             any_value(value) FILTER (WHERE key = 'revoked_by') AS revoked_by
      FROM setup_last WHERE id LIKE 'key\_%' ESCAPE '\' GROUP BY id) c
WHERE api_keys.key_id = c.id;

UPDATE targets SET
    status = CASE WHEN targets.archived THEN 'archived'
                  WHEN targets.paused THEN 'paused' ELSE 'active' END,
    version = t.version, changed_at = t.changed_at, changed_by = t.changed_by
FROM setup_touched t WHERE targets.target_id = t.id;
UPDATE campaigns SET version = t.version, changed_at = t.changed_at, changed_by = t.changed_by
FROM setup_touched t WHERE campaigns.campaign_id = t.id;
UPDATE publishers SET
    status = CASE WHEN publishers.suspended THEN 'suspended' ELSE 'active' END,
    version = t.version, changed_at = t.changed_at, changed_by = t.changed_by
FROM setup_touched t WHERE publishers.publisher_id = t.id;
UPDATE buyers SET changed_at = t.changed_at, changed_by = t.changed_by
FROM setup_touched t WHERE buyers.buyer_id = t.id;
UPDATE number_pools SET version = t.version, changed_at = t.changed_at, changed_by = t.changed_by
FROM setup_touched t WHERE number_pools.pool_id = t.id;

-- a campaign's publishers: the last allow or disallow of each pair wins
INSERT INTO campaign_publishers
SELECT originator_id, json_extract_string(state, '$.publisher_id'),
       arg_max(name = 'Campaign.PublisherAllowed', notification_id),
       arg_max(CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ), notification_id),
       arg_max(json_extract_string(state, '$.by'), notification_id)
FROM ev WHERE name IN ('Campaign.PublisherAllowed', 'Campaign.PublisherDisallowed')
GROUP BY originator_id, json_extract_string(state, '$.publisher_id')
ON CONFLICT (campaign_id, publisher_id) DO UPDATE SET
    allowed = excluded.allowed, changed_at = excluded.changed_at,
    changed_by = excluded.changed_by;

-- the history: every set-up event (a creation's values, a change's new values), never a
-- key's hash
INSERT INTO setup_changes
SELECT notification_id, CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       split_part(name, '.', 1), originator_id, split_part(name, '.', 2), originator_version,
       CAST(CASE WHEN name IN ('Target.RulesChanged', 'Campaign.RulesChanged',
                               'Buyer.ProfileChanged')
                 THEN json_extract(state, '$.changes')
                 ELSE json_merge_patch(state, '{"timestamp": null, "originator_topic": null,
                                                "by": null, "key_hash": null}') END
            AS VARCHAR),
       json_extract_string(state, '$.by')
FROM ev
WHERE name LIKE 'Target.%' OR name LIKE 'Campaign.%' OR name LIKE 'Publisher.%'
   OR name LIKE 'TrackingNumber.%' OR name LIKE 'NumberPool.%' OR name LIKE 'ApiKey.%'
   OR name IN ('Buyer.Registered', 'Buyer.CreditLimitChanged', 'Buyer.ProfileChanged')
ON CONFLICT (position) DO NOTHING;

-- automatic pauses of targets, and the anomaly watch's flags on publishers (one row each),
-- with the admin's clearing merged in
INSERT INTO auto_pauses
SELECT notification_id, originator_id,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.reason'),
       CAST(json_extract_string(state, '$.rule_version') AS INTEGER)
FROM ev WHERE name = 'Target.AutoPaused'
ON CONFLICT (notification_id) DO NOTHING;

INSERT INTO review_flags
SELECT notification_id, originator_id, json_extract_string(state, '$.campaign_id'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.rate'),
       json_extract_string(state, '$.publisher_rates.' || json_extract_string(state, '$.rate')),
       json_extract_string(state, '$.campaign_rates.' || json_extract_string(state, '$.rate')),
       CAST(json_extract_string(state, '$.rule_version') AS INTEGER), NULL, NULL
FROM ev WHERE name = 'Publisher.FlaggedForReview'
ON CONFLICT (notification_id) DO NOTHING;

UPDATE review_flags SET
    cleared_at = CAST(json_extract_string(c.state, '$.timestamp') AS TIMESTAMPTZ),
    cleared_by = json_extract_string(c.state, '$.by')
FROM (SELECT originator_id AS id, notification_id, state FROM ev
      WHERE name = 'Publisher.ReviewCleared') c
WHERE review_flags.publisher_id = c.id AND review_flags.notification_id < c.notification_id
  AND review_flags.cleared_at IS NULL
  AND list_contains(from_json(json_extract(c.state, '$.campaign_ids'), '["VARCHAR"]'),
                    review_flags.campaign_id);

-- the block list: one merged change per entry (the last event of the batch wins)
INSERT INTO blocklist
SELECT originator_id,
       any_value(v[1]) FILTER (WHERE name = 'BlockedCaller.CallerBlocked'),
       arg_max(name <> 'BlockedCaller.CallerUnblocked', notification_id),
       arg_max(v[2], notification_id) FILTER (WHERE name <> 'BlockedCaller.CallerUnblocked'),
       arg_max(CAST(v[3] AS TIMESTAMPTZ), notification_id)
           FILTER (WHERE name <> 'BlockedCaller.CallerUnblocked'),
       arg_max(v[4], notification_id) FILTER (WHERE name <> 'BlockedCaller.CallerUnblocked'),
       max(CAST(v[3] AS TIMESTAMPTZ)), arg_max(v[4], notification_id)
FROM (SELECT originator_id, notification_id, name,
             json_extract_string(state, ['$.caller_hash', '$.reason', '$.timestamp', '$.by'])
                 AS v
      FROM ev WHERE name LIKE 'BlockedCaller.%')
GROUP BY originator_id
ON CONFLICT (entry_id) DO UPDATE SET
    caller_hash = coalesce(blocklist.caller_hash, excluded.caller_hash),
    blocked = excluded.blocked,
    reason = coalesce(excluded.reason, blocklist.reason),
    blocked_at = coalesce(excluded.blocked_at, blocklist.blocked_at),
    blocked_by = coalesce(excluded.blocked_by, blocklist.blocked_by),
    changed_at = excluded.changed_at,
    changed_by = excluded.changed_by;

-- the dispute queue: a row when a dispute is opened, its resolution merged in
INSERT INTO disputes
SELECT json_extract_string(state, '$.dispute_id'), originator_id,
       json_extract_string(state, '$.reason'), 'open',
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ),
       json_extract_string(state, '$.by'), NULL, NULL, NULL
FROM ev WHERE name = 'Call.CallDisputed'
ON CONFLICT (dispute_id) DO NOTHING;

UPDATE disputes SET
    status = CASE WHEN r.accepted THEN 'accepted' ELSE 'rejected' END,
    resolved_at = r.resolved_at, resolved_by = r.resolved_by, note = r.note
FROM (SELECT json_extract_string(state, '$.dispute_id') AS dispute_id,
             CAST(json_extract_string(state, '$.accepted') AS BOOLEAN) AS accepted,
             CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ) AS resolved_at,
             json_extract_string(state, '$.by') AS resolved_by,
             json_extract_string(state, '$.note') AS note
      FROM ev WHERE name = 'Call.DisputeResolved') r
WHERE disputes.dispute_id = r.dispute_id;

-- one row per ping and per bid
INSERT INTO pings
SELECT notification_id, originator_id, CAST(v[1] AS TIMESTAMPTZ), v[2], v[3], v[4], v[5], v[6],
       v[7], v[8], v[9], v[10], v[11], v[12], v[13], v[14]
FROM (SELECT notification_id, originator_id,
             json_extract_string(state, ['$.timestamp', '$.campaign_id', '$.publisher_id',
                 '$.caller_hash', '$.geo.state', '$.geo.zip', '$.geo.area_code',
                 '$.attribution.source', '$.attribution.medium', '$.attribution.campaign',
                 '$.attribution.keyword', '$.attribution.click_id',
                 '$.attribution.tracking_number', '$.attribution.dni_session']) AS v
      FROM ev WHERE name = 'Call.PingReceived');

INSERT INTO bids
SELECT notification_id, originator_id, CAST(v[1] AS TIMESTAMPTZ), v[2], v[3],
       CASE name WHEN 'Call.BidReceived' THEN 'received'
                 WHEN 'Call.BidRejected' THEN 'rejected' ELSE 'timed_out' END,
       CAST(v[4] AS BIGINT), v[5], CAST(v[6] AS INTEGER), coalesce(v[7], 'rtb')
FROM (SELECT notification_id, originator_id, name,
             json_extract_string(state, ['$.timestamp', '$.target_id', '$.buyer_id',
                 '$.amount_cents', '$.reason', '$.latency_ms', '$.source']) AS v
      FROM ev
      WHERE name IN ('Call.BidReceived', 'Call.BidRejected', 'Call.BidTimedOut'));

-- ledger lines of deposits, reversals (posted) and holds (pending); one parse per event
CREATE OR REPLACE TEMP TABLE new_lines AS
SELECT notification_id, CAST(line AS INTEGER) - 1 AS line, occurred_at, transfer_id, kind,
       phase, entry[1] AS account, CAST(entry[2] AS BIGINT) AS debit_cents,
       CAST(entry[3] AS BIGINT) AS credit_cents, buyer_id, call_id
FROM (
    SELECT notification_id, CAST(v[1] AS TIMESTAMPTZ) AS occurred_at, v[2] AS transfer_id,
           CASE name WHEN 'Buyer.FundsDeposited' THEN 'deposit'
                     WHEN 'Buyer.TransferReversed' THEN 'reversal' ELSE 'hold' END AS kind,
           CASE name WHEN 'Buyer.HoldPlaced' THEN 'pending' ELSE 'posted' END AS phase,
           originator_id AS buyer_id, v[3] AS call_id,
           unnest(entries) AS entry, generate_subscripts(entries, 1) AS line
    FROM (SELECT notification_id, name, originator_id,
                 json_extract_string(state, ['$.timestamp', '$.transfer.id', '$.call_id']) AS v,
                 from_json(json_extract(state, '$.transfer.entries'), '[["VARCHAR"]]')
                     AS entries
          FROM ev
          WHERE name IN ('Buyer.FundsDeposited', 'Buyer.TransferReversed',
                         'Buyer.HoldPlaced'))
);
INSERT INTO ledger_entries SELECT * FROM new_lines;
INSERT INTO open_holds SELECT * FROM new_lines WHERE kind = 'hold';

-- a posted or voided hold releases its pending lines; a post also posts them
CREATE OR REPLACE TEMP TABLE moves AS
SELECT notification_id, name, originator_id,
       json_extract_string(state, ['$.timestamp', '$.hold_id', '$.call_id']) AS v
FROM ev WHERE name IN ('Buyer.HoldPosted', 'Buyer.HoldVoided');

INSERT INTO ledger_entries
SELECT m.notification_id, h.line + phases.line_offset, CAST(m.v[1] AS TIMESTAMPTZ),
       h.transfer_id, CASE m.name WHEN 'Buyer.HoldPosted' THEN 'post' ELSE 'void' END,
       phases.phase, h.account, h.debit_cents, h.credit_cents, m.originator_id, m.v[3]
FROM moves m
JOIN open_holds h ON h.transfer_id = m.v[2]
JOIN (VALUES ('released', 0), ('posted', 1000)) AS phases(phase, line_offset)
  ON phases.phase = 'released' OR m.name = 'Buyer.HoldPosted';

DELETE FROM open_holds WHERE transfer_id IN (SELECT v[2] FROM moves);

-- calls: a row per new call, then one merged change per call (the last event setting a
-- column wins; bid counts add up)
INSERT INTO calls (call_id, pinged_at, campaign_id, vertical, publisher_id, caller_hash,
                   state, zip, source, medium, utm_campaign, keyword, tracking_number,
                   bid_count, expired, posted, attempts, answered, billed, revenue_cents,
                   payout_cents, margin_cents, converted, disputed, reversed,
                   consent_trustedform_cert_url, consent_jornaya_leadid, consent_text_version,
                   consented_at)
SELECT e.originator_id, CAST(e.v[1] AS TIMESTAMPTZ), e.v[2], c.vertical, e.v[3], e.v[4],
       e.v[5], e.v[6], e.v[7], e.v[8], e.v[9], e.v[10], e.v[11],
       0, false, false, 0, false, false, 0, 0, 0, false, false, false,
       e.v[12], e.v[13], e.v[14], CAST(e.v[15] AS TIMESTAMPTZ)
FROM (SELECT originator_id,
             json_extract_string(state, ['$.timestamp', '$.campaign_id', '$.publisher_id',
                 '$.caller_hash', '$.geo.state', '$.geo.zip', '$.attribution.source',
                 '$.attribution.medium', '$.attribution.campaign', '$.attribution.keyword',
                 '$.attribution.tracking_number', '$.consent.trustedform_cert_url',
                 '$.consent.jornaya_leadid', '$.consent.text_version',
                 '$.consent.consented_at']) AS v
      FROM ev WHERE name = 'Call.PingReceived') e
LEFT JOIN campaigns c ON c.campaign_id = e.v[2];

-- one JSON parse per event: every field the merge needs, extracted as one list
CREATE OR REPLACE TEMP TABLE call_events AS
SELECT originator_id AS call_id, notification_id, name,
       json_extract_string(state, ['$.timestamp', '$.reason', '$.winner_buyer_id',
           '$.buyer_id', '$.winner_target_id', '$.target_id', '$.price_cents',
           '$.payout_cents', '$.attempt', '$.duration_s', '$.revenue_cents',
           '$.margin_cents', '$.value_cents', '$.accepted', '$.question_id',
           '$.action', '$.score_bp', '$.model_version', '$.ended_by', '$.flags']) AS v
FROM ev
WHERE name LIKE 'Call.%' AND name NOT IN ('Call.PingReceived', 'Call.BidRejected',
                                          'Call.BidTimedOut');

CREATE OR REPLACE TEMP TABLE call_changes AS
SELECT call_id,
       count(*) FILTER (WHERE name = 'Call.BidReceived') AS bids_added,
       arg_max(name = 'Call.AuctionDecided', notification_id)
           FILTER (WHERE name IN ('Call.AuctionDecided', 'Call.NoBuyerFound',
                                  'Call.PingScreened')) AS accepted,
       -- a ping refused before the auction: 'screened' (its screen is in the timeline)
       arg_max(CASE WHEN name = 'Call.PingScreened' THEN 'screened' ELSE v[2] END,
               notification_id)
           FILTER (WHERE name IN ('Call.NoBuyerFound', 'Call.PingScreened'))
           AS no_buyer_reason,
       arg_max(coalesce(v[3], v[4]), notification_id)
           FILTER (WHERE name IN ('Call.AuctionDecided', 'Call.CallRouted', 'Call.CallBilled'))
           AS buyer_id,
       arg_max(coalesce(v[5], v[6]), notification_id)
           FILTER (WHERE name IN ('Call.AuctionDecided', 'Call.CallRouted', 'Call.CallBilled'))
           AS target_id,
       arg_max(CAST(v[7] AS BIGINT), notification_id)
           FILTER (WHERE name IN ('Call.AuctionDecided', 'Call.CallRouted')) AS price_cents,
       arg_max(CAST(v[8] AS BIGINT), notification_id)
           FILTER (WHERE name = 'Call.AuctionDecided') AS payout_offer_cents,
       CASE WHEN bool_or(name = 'Call.PingExpired') THEN true END AS expired,
       arg_max(v[2], notification_id) FILTER (WHERE name = 'Call.PostRefused')
           AS post_refused_reason,
       CASE WHEN bool_or(name = 'Call.CallPosted') THEN true END AS posted,
       arg_max(CAST(v[1] AS TIMESTAMPTZ), notification_id)
           FILTER (WHERE name = 'Call.CallPosted') AS posted_at,
       arg_max(CAST(v[9] AS INTEGER), notification_id)
           FILTER (WHERE name = 'Call.CallRouted') AS attempts,
       CASE WHEN bool_or(name = 'Call.CallAnswered') THEN true END AS answered,
       arg_max(CAST(v[1] AS TIMESTAMPTZ), notification_id)
           FILTER (WHERE name = 'Call.CallCompleted') AS completed_at,
       arg_max(CAST(v[10] AS INTEGER), notification_id)
           FILTER (WHERE name = 'Call.CallCompleted') AS duration_s,
       arg_max(name = 'Call.CallBilled', notification_id)
           FILTER (WHERE name IN ('Call.CallBilled', 'Call.CallNotBilled')) AS billed,
       arg_max(v[2], notification_id) FILTER (WHERE name = 'Call.CallNotBilled')
           AS not_billed_reason,
       arg_max(CASE WHEN name = 'Call.CallBilled' THEN CAST(v[11] AS BIGINT) ELSE 0 END,
               notification_id)
           FILTER (WHERE name = 'Call.CallBilled'
                   OR (name = 'Call.DisputeResolved' AND v[14] = 'true')) AS revenue_cents,
       arg_max(CASE WHEN name = 'Call.CallBilled' THEN CAST(v[8] AS BIGINT) ELSE 0 END,
               notification_id)
           FILTER (WHERE name = 'Call.CallBilled'
                   OR (name = 'Call.DisputeResolved' AND v[14] = 'true')) AS payout_cents,
       arg_max(CASE WHEN name = 'Call.CallBilled' THEN CAST(v[12] AS BIGINT) ELSE 0 END,
               notification_id)
           FILTER (WHERE name = 'Call.CallBilled'
                   OR (name = 'Call.DisputeResolved' AND v[14] = 'true')) AS margin_cents,
       CASE WHEN bool_or(name = 'Call.CallConverted') THEN true END AS converted,
       arg_max(CAST(v[13] AS BIGINT), notification_id)
           FILTER (WHERE name = 'Call.CallConverted') AS conversion_value_cents,
       CASE WHEN bool_or(name = 'Call.CallDisputed') THEN true END AS disputed,
       CASE WHEN bool_or(name = 'Call.DisputeResolved' AND v[14] = 'true') THEN true END
           AS reversed,
       arg_max(v[15], notification_id) FILTER (WHERE name = 'Call.QualificationFailed')
           AS disqualified_question_id,
       arg_max(v[16], notification_id) FILTER (WHERE name = 'Call.QualificationFailed')
           AS disqualified_action,
       arg_max(CAST(v[17] AS INTEGER), notification_id)
           FILTER (WHERE name = 'Call.CallScored') AS score_bp,
       arg_max(v[18], notification_id) FILTER (WHERE name = 'Call.CallScored')
           AS score_model_version,
       arg_max(v[19], notification_id) FILTER (WHERE name = 'Call.CallCompleted') AS ended_by,
       arg_max(array_to_string(from_json(v[20], '["VARCHAR"]'), ','), notification_id)
           FILTER (WHERE name = 'Call.CallFlagged') AS flags
FROM call_events
GROUP BY call_id;

UPDATE calls SET
    bid_count = calls.bid_count + c.bids_added,
    accepted = coalesce(c.accepted, calls.accepted),
    no_buyer_reason = coalesce(c.no_buyer_reason, calls.no_buyer_reason),
    buyer_id = coalesce(c.buyer_id, calls.buyer_id),
    target_id = coalesce(c.target_id, calls.target_id),
    price_cents = coalesce(c.price_cents, calls.price_cents),
    payout_offer_cents = coalesce(c.payout_offer_cents, calls.payout_offer_cents),
    expired = coalesce(c.expired, calls.expired),
    post_refused_reason = coalesce(c.post_refused_reason, calls.post_refused_reason),
    posted = coalesce(c.posted, calls.posted),
    posted_at = coalesce(c.posted_at, calls.posted_at),
    attempts = coalesce(c.attempts, calls.attempts),
    answered = coalesce(c.answered, calls.answered),
    completed_at = coalesce(c.completed_at, calls.completed_at),
    duration_s = coalesce(c.duration_s, calls.duration_s),
    billed = coalesce(c.billed, calls.billed),
    not_billed_reason = coalesce(c.not_billed_reason, calls.not_billed_reason),
    revenue_cents = coalesce(c.revenue_cents, calls.revenue_cents),
    payout_cents = coalesce(c.payout_cents, calls.payout_cents),
    margin_cents = coalesce(c.margin_cents, calls.margin_cents),
    converted = coalesce(c.converted, calls.converted),
    conversion_value_cents = coalesce(c.conversion_value_cents, calls.conversion_value_cents),
    disputed = coalesce(c.disputed, calls.disputed),
    reversed = coalesce(c.reversed, calls.reversed),
    disqualified_question_id = coalesce(c.disqualified_question_id,
                                        calls.disqualified_question_id),
    disqualified_action = coalesce(c.disqualified_action, calls.disqualified_action),
    score_bp = coalesce(c.score_bp, calls.score_bp),
    score_model_version = coalesce(c.score_model_version, calls.score_model_version),
    ended_by = coalesce(c.ended_by, calls.ended_by),
    flags = coalesce(c.flags, calls.flags)
FROM call_changes c
WHERE calls.call_id = c.call_id;

-- the hours and days whose rollup rows this batch changed
CREATE OR REPLACE TEMP TABLE touched_hours AS
SELECT DISTINCT date_trunc('hour', pinged_at) AS hour
FROM calls
WHERE call_id IN (SELECT call_id FROM call_changes
                  UNION ALL SELECT originator_id FROM ev WHERE name = 'Call.PingReceived');

CREATE OR REPLACE TEMP TABLE touched_days AS
SELECT DISTINCT CAST(hour AS DATE) AS day FROM touched_hours;

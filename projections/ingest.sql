-- One batch of events → table rows, in DuckDB's vectorized JSON functions.
-- The batch is staged as ev(notification_id, name, originator_id, originator_version, state)
-- where name is 'Aggregate.Event' and state the event's JSON; only events after the stored
-- position are staged. Statements run in this order inside the batch's transaction.

-- dimensions (the last event per key wins)
INSERT INTO publishers
SELECT originator_id, arg_max(json_extract_string(state, '$.name'), notification_id),
       min(CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ))
FROM ev WHERE name IN ('Publisher.Registered', 'Publisher.Renamed')
GROUP BY originator_id
ON CONFLICT (publisher_id) DO UPDATE SET name = excluded.name;

INSERT INTO buyers
SELECT originator_id, json_extract_string(state, '$.name'), json_extract_string(state, '$.time_zone'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ)
FROM ev WHERE name = 'Buyer.Registered'
ON CONFLICT (buyer_id) DO NOTHING;

INSERT INTO campaigns
SELECT originator_id, json_extract_string(state, '$.name'), json_extract_string(state, '$.vertical'), json_extract_string(state, '$.market'),
       CASE WHEN json_extract_string(state, '$.payout.fixed_cents') IS NOT NULL
            THEN 'fixed ' || (json_extract_string(state, '$.payout.fixed_cents'))
            ELSE 'share ' || (json_extract_string(state, '$.payout.share')) END,
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ)
FROM ev WHERE name = 'Campaign.Created'
ON CONFLICT (campaign_id) DO NOTHING;

INSERT INTO targets
SELECT originator_id, json_extract_string(state, '$.buyer_id'), json_extract_string(state, '$.campaign_id'), json_extract_string(state, '$.name'),
       CAST(json_extract_string(state, '$.timestamp') AS TIMESTAMPTZ)
FROM ev WHERE name = 'Target.Created'
ON CONFLICT (target_id) DO NOTHING;

INSERT INTO tracking_numbers
SELECT json_extract_string(state, '$.number'), json_extract_string(state, '$.campaign_id'), json_extract_string(state, '$.publisher_id'), json_extract_string(state, '$.source'),
       json_extract_string(state, '$.medium'), json_extract_string(state, '$.keyword'), json_extract_string(state, '$.pool_id')
FROM ev WHERE name = 'TrackingNumber.Provisioned'
ON CONFLICT (number) DO NOTHING;

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
                   payout_cents, margin_cents, converted, disputed, reversed)
SELECT e.originator_id, CAST(e.v[1] AS TIMESTAMPTZ), e.v[2], c.vertical, e.v[3], e.v[4],
       e.v[5], e.v[6], e.v[7], e.v[8], e.v[9], e.v[10], e.v[11],
       0, false, false, 0, false, false, 0, 0, 0, false, false, false
FROM (SELECT originator_id,
             json_extract_string(state, ['$.timestamp', '$.campaign_id', '$.publisher_id',
                 '$.caller_hash', '$.geo.state', '$.geo.zip', '$.attribution.source',
                 '$.attribution.medium', '$.attribution.campaign', '$.attribution.keyword',
                 '$.attribution.tracking_number']) AS v
      FROM ev WHERE name = 'Call.PingReceived') e
LEFT JOIN campaigns c ON c.campaign_id = e.v[2];

-- one JSON parse per event: every field the merge needs, extracted as one list
CREATE OR REPLACE TEMP TABLE call_events AS
SELECT originator_id AS call_id, notification_id, name,
       json_extract_string(state, ['$.timestamp', '$.reason', '$.winner_buyer_id',
           '$.buyer_id', '$.winner_target_id', '$.target_id', '$.price_cents',
           '$.payout_cents', '$.attempt', '$.duration_s', '$.revenue_cents',
           '$.margin_cents', '$.value_cents', '$.accepted']) AS v
FROM ev
WHERE name LIKE 'Call.%' AND name NOT IN ('Call.PingReceived', 'Call.BidRejected',
                                          'Call.BidTimedOut');

CREATE OR REPLACE TEMP TABLE call_changes AS
SELECT call_id,
       count(*) FILTER (WHERE name = 'Call.BidReceived') AS bids_added,
       arg_max(name = 'Call.AuctionDecided', notification_id)
           FILTER (WHERE name IN ('Call.AuctionDecided', 'Call.NoBuyerFound')) AS accepted,
       arg_max(v[2], notification_id) FILTER (WHERE name = 'Call.NoBuyerFound')
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
           AS reversed
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
    reversed = coalesce(c.reversed, calls.reversed)
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

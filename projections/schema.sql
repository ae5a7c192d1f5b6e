-- The analysts' tables. Money is integer cents; times are UTC (TIMESTAMPTZ).
-- One row per event for pings, bids and ledger entries; one row per call for calls.
-- Exactly once: projection_position is written in the same transaction as the rows.

CREATE TABLE IF NOT EXISTS projection_position (
    name VARCHAR PRIMARY KEY,
    position BIGINT NOT NULL
);
-- the digest of the SQL that built these tables: another digest rebuilds them from zero
CREATE TABLE IF NOT EXISTS projection_schema (
    name VARCHAR PRIMARY KEY,
    digest VARCHAR NOT NULL
);

-- The set-up's current values (a change updates its row; `version` is the aggregate's, as a
-- single-object GET shows it). Columns newer than the first stored logs are appended, so the
-- older columns keep their place and values. JSON columns hold JSON text.
CREATE TABLE IF NOT EXISTS campaigns (
    campaign_id VARCHAR PRIMARY KEY, name VARCHAR, vertical VARCHAR, market VARCHAR,
    payout VARCHAR, created_at TIMESTAMPTZ,
    payout_rule VARCHAR, duplicate_window_days INTEGER, distribution VARCHAR,
    min_bid_cents BIGINT, min_margin_cents BIGINT, allow_negative_margin BOOLEAN,
    max_attempts INTEGER, bid_ttl_s INTEGER, rtb_deadline_ms INTEGER, created_by VARCHAR,
    version BIGINT, changed_at TIMESTAMPTZ, changed_by VARCHAR,
    ivr VARCHAR,  -- the IVR questions asked before the auction (JSON); NULL: none
    -- traffic quality rules (`domain/call_flags.py`); NULL: never set, the defaults
    buzzer_margin_s INTEGER, short_call_s INTEGER, bill_buzzer_beaters BOOLEAN,
    -- screening before the auction (set by RulesChanged; velocity JSON, NULL: the default)
    exclude_toll_free BOOLEAN, exclude_premium_rate BOOLEAN, velocity VARCHAR
);
-- the publishers a campaign allows now and once allowed (allowed = false: disallowed since)
CREATE TABLE IF NOT EXISTS campaign_publishers (
    campaign_id VARCHAR, publisher_id VARCHAR, allowed BOOLEAN, changed_at TIMESTAMPTZ,
    changed_by VARCHAR, PRIMARY KEY (campaign_id, publisher_id)
);
CREATE TABLE IF NOT EXISTS publishers (
    publisher_id VARCHAR PRIMARY KEY, name VARCHAR, created_at TIMESTAMPTZ,
    suspended BOOLEAN, status VARCHAR, created_by VARCHAR, version BIGINT,
    changed_at TIMESTAMPTZ, changed_by VARCHAR
);
CREATE TABLE IF NOT EXISTS buyers (
    buyer_id VARCHAR PRIMARY KEY, name VARCHAR, time_zone VARCHAR, created_at TIMESTAMPTZ,
    market VARCHAR, credit_limit_cents BIGINT, created_by VARCHAR, changed_at TIMESTAMPTZ,
    changed_by VARCHAR
);
CREATE TABLE IF NOT EXISTS targets (
    target_id VARCHAR PRIMARY KEY, buyer_id VARCHAR, campaign_id VARCHAR, name VARCHAR,
    created_at TIMESTAMPTZ,
    destination VARCHAR, bid_cents BIGINT, rtb_url VARCHAR, rtb_timeout_ms INTEGER,
    buffer_s INTEGER, geo VARCHAR, schedule VARCHAR, caps VARCHAR, priority INTEGER,
    weight INTEGER, paused BOOLEAN, archived BOOLEAN, status VARCHAR, created_by VARCHAR,
    version BIGINT, changed_at TIMESTAMPTZ, changed_by VARCHAR,
    auto_pause VARCHAR,  -- its own auto-pause rules (JSON); NULL: the defaults
    requires_consent BOOLEAN,
    requires_tags VARCHAR  -- the tags a ping must carry (JSON object); NULL: none
);
CREATE TABLE IF NOT EXISTS tracking_numbers (
    number VARCHAR PRIMARY KEY, campaign_id VARCHAR, publisher_id VARCHAR, source VARCHAR,
    medium VARCHAR, keyword VARCHAR, pool_id VARCHAR, number_id VARCHAR,
    created_at TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS number_pools (
    pool_id VARCHAR PRIMARY KEY, name VARCHAR, campaign_id VARCHAR, publisher_id VARCHAR,
    numbers VARCHAR, lease_ttl_s INTEGER, allowed_origins VARCHAR, created_at TIMESTAMPTZ,
    created_by VARCHAR, version BIGINT, changed_at TIMESTAMPTZ, changed_by VARCHAR
);
-- webhooks' current values (nothing secret: the signing secret is derived, never stored);
-- `events` is JSON text, `status` active|paused|removed
CREATE TABLE IF NOT EXISTS webhooks (
    webhook_id VARCHAR PRIMARY KEY, owner_role VARCHAR, owner_id VARCHAR, url VARCHAR,
    method VARCHAR, events VARCHAR, description VARCHAR, status VARCHAR,
    secret_version INTEGER, created_at TIMESTAMPTZ, created_by VARCHAR, version BIGINT,
    changed_at TIMESTAMPTZ, changed_by VARCHAR
);
-- API keys, never their hash
CREATE TABLE IF NOT EXISTS api_keys (
    key_id VARCHAR PRIMARY KEY, role VARCHAR, owner_id VARCHAR, label VARCHAR,
    created_at TIMESTAMPTZ, created_by VARCHAR, expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ, revoked_by VARCHAR
);
-- Every set-up event, one row each, in log order (`position`): what it set (`changes`, JSON:
-- a change's new values, a creation's values; never a key's hash), when and by whom.
CREATE TABLE IF NOT EXISTS setup_changes (
    position BIGINT PRIMARY KEY, changed_at TIMESTAMPTZ, kind VARCHAR, aggregate_id VARCHAR,
    event VARCHAR, version BIGINT, changes VARCHAR, changed_by VARCHAR
);

-- the dispute queue: one row per dispute, its status now (open | accepted | rejected)
CREATE TABLE IF NOT EXISTS disputes (
    dispute_id VARCHAR PRIMARY KEY, call_id VARCHAR, reason VARCHAR, status VARCHAR,
    opened_at TIMESTAMPTZ, opened_by VARCHAR, resolved_at TIMESTAMPTZ, resolved_by VARCHAR,
    note VARCHAR
);

CREATE TABLE IF NOT EXISTS pings (
    notification_id BIGINT, call_id VARCHAR, occurred_at TIMESTAMPTZ, campaign_id VARCHAR,
    publisher_id VARCHAR, caller_hash VARCHAR, state VARCHAR, zip VARCHAR, area_code VARCHAR,
    source VARCHAR, medium VARCHAR, utm_campaign VARCHAR, keyword VARCHAR, click_id VARCHAR,
    tracking_number VARCHAR, dni_session VARCHAR
);

CREATE TABLE IF NOT EXISTS bids (
    notification_id BIGINT, call_id VARCHAR, occurred_at TIMESTAMPTZ, target_id VARCHAR,
    buyer_id VARCHAR, outcome VARCHAR, amount_cents BIGINT, reason VARCHAR, latency_ms INTEGER,
    source VARCHAR
);

CREATE TABLE IF NOT EXISTS calls (
    call_id VARCHAR, pinged_at TIMESTAMPTZ, campaign_id VARCHAR, vertical VARCHAR,
    publisher_id VARCHAR, caller_hash VARCHAR, state VARCHAR, zip VARCHAR, source VARCHAR,
    medium VARCHAR, utm_campaign VARCHAR, keyword VARCHAR, tracking_number VARCHAR,
    bid_count INTEGER, accepted BOOLEAN, no_buyer_reason VARCHAR, buyer_id VARCHAR,
    target_id VARCHAR, price_cents BIGINT, payout_offer_cents BIGINT, expired BOOLEAN,
    post_refused_reason VARCHAR,
    posted BOOLEAN, posted_at TIMESTAMPTZ, attempts INTEGER, answered BOOLEAN,
    completed_at TIMESTAMPTZ, duration_s INTEGER, billed BOOLEAN, not_billed_reason VARCHAR,
    revenue_cents BIGINT, payout_cents BIGINT, margin_cents BIGINT, converted BOOLEAN,
    conversion_value_cents BIGINT, disputed BOOLEAN, reversed BOOLEAN,
    consent_trustedform_cert_url VARCHAR, consent_jornaya_leadid VARCHAR,
    consent_text_version VARCHAR, consented_at TIMESTAMPTZ,
    -- IVR qualification: the question a caller failed (no auction), and what it got
    disqualified_question_id VARCHAR, disqualified_action VARCHAR,
    score_bp INTEGER, score_model_version VARCHAR,
    -- who hung up first (caller | buyer; NULL: not reported) and the call's traffic-quality
    -- flags (`Call.CallFlagged`: comma-separated, e.g. 'buzzer_beater,short_call'; NULL: none)
    ended_by VARCHAR, flags VARCHAR
);

-- targets paused automatically (`Target.AutoPaused`), one row each: the buyer performance
-- report counts them per target
CREATE TABLE IF NOT EXISTS auto_pauses (
    notification_id BIGINT PRIMARY KEY, target_id VARCHAR, paused_at TIMESTAMPTZ,
    reason VARCHAR, rule_version INTEGER
);

-- publishers flagged for review by the anomaly watch (`Publisher.FlaggedForReview`), one
-- row each, and when an admin cleared them (`Publisher.ReviewCleared`)
CREATE TABLE IF NOT EXISTS review_flags (
    notification_id BIGINT PRIMARY KEY, publisher_id VARCHAR, campaign_id VARCHAR,
    flagged_at TIMESTAMPTZ, rate VARCHAR, publisher_rate VARCHAR, campaign_rate VARCHAR,
    rule_version INTEGER, cleared_at TIMESTAMPTZ, cleared_by VARCHAR
);

-- phase: 'posted' lines move posted balances; 'pending' lines are holds; 'released' lines
-- take a hold's pending amounts back (when it is posted or voided).
CREATE TABLE IF NOT EXISTS ledger_entries (
    notification_id BIGINT, line INTEGER, occurred_at TIMESTAMPTZ, transfer_id VARCHAR, kind VARCHAR,
    phase VARCHAR, account VARCHAR, debit_cents BIGINT, credit_cents BIGINT, buyer_id VARCHAR,
    call_id VARCHAR
);

-- Holds not yet posted or voided: what a post or void releases (small, unlike the journal).
CREATE TABLE IF NOT EXISTS open_holds (
    notification_id BIGINT, line INTEGER, occurred_at TIMESTAMPTZ, transfer_id VARCHAR,
    kind VARCHAR, phase VARCHAR, account VARCHAR, debit_cents BIGINT, credit_cents BIGINT,
    buyer_id VARCHAR, call_id VARCHAR
);

-- Rollups the projector maintains: every hour (day) touched by a batch is recomputed from
-- the calls table in the same transaction, so a rollup always equals its calls.
-- P&L by hour, campaign (and so vertical), publisher and buyer: the dimensions that compress;
-- reports grouping by target or caller state read the calls table.
CREATE TABLE IF NOT EXISTS pnl_hourly (
    hour TIMESTAMPTZ, campaign_id VARCHAR, vertical VARCHAR, publisher_id VARCHAR,
    buyer_id VARCHAR, pings BIGINT, bids BIGINT, wins BIGINT, calls BIGINT, answered BIGINT,
    billable BIGINT, revenue_cents BIGINT, payout_cents BIGINT, margin_cents BIGINT
);
CREATE TABLE IF NOT EXISTS attribution_daily (
    day DATE, campaign_id VARCHAR, publisher_id VARCHAR, buyer_id VARCHAR, source VARCHAR,
    medium VARCHAR, utm_campaign VARCHAR, keyword VARCHAR, tracking_number VARCHAR,
    calls BIGINT, billable BIGINT, converted BIGINT, revenue_cents BIGINT, payout_cents BIGINT,
    margin_cents BIGINT
);

-- The block list (DNC), one row per blocked caller (by the caller's keyed hash): whether it
-- is blocked now, and who changed it last and when.
CREATE TABLE IF NOT EXISTS blocklist (
    entry_id VARCHAR PRIMARY KEY, caller_hash VARCHAR, blocked BOOLEAN, reason VARCHAR,
    blocked_at TIMESTAMPTZ, blocked_by VARCHAR, changed_at TIMESTAMPTZ, changed_by VARCHAR
);

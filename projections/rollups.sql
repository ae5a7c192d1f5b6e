-- Recompute the rollup rows of the hours in touched_hours(hour) and days in touched_days(day)
-- from the calls table. The range predicates let DuckDB skip row groups by their zone maps
-- (calls arrive in time order), so a batch reads the hours it touched, not the whole table.
DELETE FROM pnl_hourly WHERE hour IN (SELECT hour FROM touched_hours);
INSERT INTO pnl_hourly
SELECT date_trunc('hour', pinged_at) AS hour, campaign_id, vertical, publisher_id,
       coalesce(buyer_id, '') AS buyer_id,
       count(*) AS pings,
       sum(bid_count) AS bids,
       count(*) FILTER (WHERE accepted) AS wins,
       count(*) FILTER (WHERE posted) AS calls,
       count(*) FILTER (WHERE answered) AS answered,
       count(*) FILTER (WHERE billed AND NOT reversed) AS billable,
       sum(revenue_cents) AS revenue_cents,
       sum(payout_cents) AS payout_cents,
       sum(margin_cents) AS margin_cents
FROM calls
WHERE pinged_at >= (SELECT min(hour) FROM touched_hours)
  AND pinged_at < (SELECT max(hour) FROM touched_hours) + INTERVAL 1 HOUR
  AND date_trunc('hour', pinged_at) IN (SELECT hour FROM touched_hours)
GROUP BY ALL;

DELETE FROM attribution_daily WHERE day IN (SELECT day FROM touched_days);
INSERT INTO attribution_daily
SELECT CAST(pinged_at AS DATE) AS day, campaign_id, publisher_id,
       coalesce(buyer_id, '') AS buyer_id, coalesce(source, '') AS source,
       coalesce(medium, '') AS medium, coalesce(utm_campaign, '') AS utm_campaign,
       coalesce(keyword, '') AS keyword, coalesce(tracking_number, '') AS tracking_number,
       count(*) FILTER (WHERE posted) AS calls,
       count(*) FILTER (WHERE billed AND NOT reversed) AS billable,
       count(*) FILTER (WHERE converted) AS converted,
       sum(revenue_cents) AS revenue_cents,
       sum(payout_cents) AS payout_cents,
       sum(margin_cents) AS margin_cents
FROM calls
WHERE pinged_at >= (SELECT min(day) FROM touched_days)
  AND pinged_at < (SELECT max(day) FROM touched_days) + INTERVAL 1 DAY
  AND CAST(pinged_at AS DATE) IN (SELECT day FROM touched_days)
GROUP BY ALL;

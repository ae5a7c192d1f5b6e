-- P&L grouped by a dimension the hourly rollup does not keep (target, caller state), read
-- from the calls table itself; the same columns and totals as pnl.sql. {dimensions} is
-- filled from a whitelist; values are bound parameters.
SELECT {dimensions},
       (count(*) FILTER (WHERE posted))::BIGINT AS calls,
       (count(*) FILTER (WHERE billed AND NOT reversed))::BIGINT AS billable,
       sum(revenue_cents)::BIGINT AS revenue_cents,
       sum(payout_cents)::BIGINT AS payout_cents,
       sum(margin_cents)::BIGINT AS margin_cents
FROM (SELECT date_trunc('hour', pinged_at) AS hour, campaign_id, vertical, publisher_id,
             coalesce(buyer_id, '') AS buyer_id, target_id, state, posted, billed, reversed,
             revenue_cents, payout_cents, margin_cents
      FROM calls)
WHERE ($start IS NULL OR hour >= $start)
  AND ($end IS NULL OR hour < $end)
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
GROUP BY ALL
ORDER BY ALL

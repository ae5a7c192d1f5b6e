-- P&L by any of hour, day, campaign, publisher, buyer, target, vertical, state (from the
-- hourly rollup). {dimensions} is filled from a whitelist; values are bound parameters.
SELECT {dimensions},
       sum(calls)::BIGINT AS calls,
       sum(billable)::BIGINT AS billable,
       sum(revenue_cents)::BIGINT AS revenue_cents,
       sum(payout_cents)::BIGINT AS payout_cents,
       sum(margin_cents)::BIGINT AS margin_cents
FROM pnl_hourly
WHERE ($start IS NULL OR hour >= $start)
  AND ($end IS NULL OR hour < $end)
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
GROUP BY ALL
ORDER BY ALL

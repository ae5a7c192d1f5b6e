-- Attribution by source, medium, campaign (the ad campaign), keyword, tracking number.
-- cost per call = payout / calls (what publishers earn per call);
-- revenue per call = revenue / calls (what buyers pay per call).
SELECT {dimensions},
       sum(calls)::BIGINT AS calls,
       sum(billable)::BIGINT AS billable,
       round(sum(converted) / nullif(sum(calls), 0), 4) AS conversion_rate,
       sum(revenue_cents)::BIGINT AS revenue_cents,
       sum(payout_cents)::BIGINT AS payout_cents,
       sum(margin_cents)::BIGINT AS margin_cents,
       (sum(payout_cents) // nullif(sum(calls), 0))::BIGINT AS cost_per_call_cents,
       (sum(revenue_cents) // nullif(sum(calls), 0))::BIGINT AS revenue_per_call_cents
FROM attribution_daily
WHERE ($start IS NULL OR day >= CAST($start AS DATE))
  AND ($end IS NULL OR day < CAST($end AS DATE))
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
GROUP BY ALL
ORDER BY ALL

-- Hour-of-week heat map (UTC): ISO day of week 1 = Monday.
SELECT isodow(hour)::INTEGER AS day_of_week,
       hour(hour)::INTEGER AS hour_of_day,
       sum(calls)::BIGINT AS calls,
       sum(billable)::BIGINT AS billable,
       sum(revenue_cents)::BIGINT AS revenue_cents
FROM pnl_hourly
WHERE ($start IS NULL OR hour >= $start) AND ($end IS NULL OR hour < $end)
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
GROUP BY ALL
ORDER BY ALL

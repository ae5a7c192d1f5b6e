-- Calls routed to a buyer that nobody answered.
SELECT campaign_id,
       count(*) FILTER (WHERE posted)::BIGINT AS calls,
       count(*) FILTER (WHERE posted AND NOT answered)::BIGINT AS missed,
       round(count(*) FILTER (WHERE posted AND NOT answered)
             / nullif(count(*) FILTER (WHERE posted), 0), 4) AS missed_rate
FROM calls
WHERE ($start IS NULL OR pinged_at >= $start) AND ($end IS NULL OR pinged_at < $end)
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
GROUP BY campaign_id
ORDER BY campaign_id

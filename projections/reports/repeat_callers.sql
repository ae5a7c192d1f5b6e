-- Callers who called a campaign more than once in the period.
SELECT campaign_id,
       count(*)::BIGINT AS callers,
       count(*) FILTER (WHERE n > 1)::BIGINT AS repeat_callers,
       round(count(*) FILTER (WHERE n > 1) / nullif(count(*), 0), 4) AS repeat_share,
       sum(n - 1) FILTER (WHERE n > 1)::BIGINT AS repeat_calls
FROM (
    SELECT campaign_id, caller_hash, count(*) AS n
    FROM calls
    WHERE posted
      AND ($start IS NULL OR pinged_at >= $start) AND ($end IS NULL OR pinged_at < $end)
      AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
      AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
    GROUP BY ALL
)
GROUP BY campaign_id
ORDER BY campaign_id

-- Lead scores against outcomes (issue 24, item 5): the scored calls in deciles of their latest
-- score (0: below 10 %, …, 9: 90 % and above), by the chosen dimensions (none: the deciles
-- alone) — how many, how many converted, and the mean score. A model that ranks well converts
-- more in its higher deciles; a calibrated one's mean score is near each decile's rate.
SELECT {dimensions}
       least(score_bp // 1000, 9)::INTEGER AS score_decile,
       count(*)::BIGINT AS calls,
       (count(*) FILTER (WHERE converted))::BIGINT AS conversions,
       round((count(*) FILTER (WHERE converted)) / count(*), 4) AS conversion_rate,
       round(avg(score_bp))::INTEGER AS mean_score_bp
FROM calls
WHERE score_bp IS NOT NULL
  AND ($start IS NULL OR pinged_at >= $start) AND ($end IS NULL OR pinged_at < $end)
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)
GROUP BY ALL
ORDER BY ALL

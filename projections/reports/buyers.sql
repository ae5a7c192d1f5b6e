-- Buyer performance: bid rate (bids / bid requests), win rate (wins / bids), time-outs,
-- answer rate (answered / routed), average handle time of answered calls (seconds).
WITH asked AS (
    SELECT buyer_id,
           count(*) AS requests,
           count(*) FILTER (WHERE outcome = 'received') AS bids,
           count(*) FILTER (WHERE outcome = 'timed_out') AS timeouts
    FROM bids
    WHERE ($start IS NULL OR occurred_at >= $start) AND ($end IS NULL OR occurred_at < $end)
    GROUP BY buyer_id
), served AS (
    SELECT buyer_id,
           count(*) FILTER (WHERE accepted) AS wins,
           count(*) FILTER (WHERE posted) AS routed,
           count(*) FILTER (WHERE answered) AS answered,
           avg(duration_s) FILTER (WHERE answered) AS handle_s
    FROM calls
    WHERE buyer_id IS NOT NULL
      AND ($start IS NULL OR pinged_at >= $start) AND ($end IS NULL OR pinged_at < $end)
    GROUP BY buyer_id
)
SELECT a.buyer_id, b.name,
       a.requests::BIGINT AS bid_requests,
       a.bids::BIGINT AS bids,
       round(a.bids / nullif(a.requests, 0), 4) AS bid_rate,
       coalesce(s.wins, 0)::BIGINT AS wins,
       round(coalesce(s.wins, 0) / nullif(a.bids, 0), 4) AS win_rate,
       a.timeouts::BIGINT AS timeouts,
       round(coalesce(s.answered, 0) / nullif(s.routed, 0), 4) AS answer_rate,
       round(s.handle_s, 1) AS average_handle_s
FROM asked a
LEFT JOIN served s USING (buyer_id)
LEFT JOIN buyers b USING (buyer_id)
WHERE ($buyer_id IS NULL OR a.buyer_id = $buyer_id)
ORDER BY a.buyer_id

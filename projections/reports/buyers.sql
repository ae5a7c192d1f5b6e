-- Buyer performance: bid rate (bids / bid requests), win rate (wins / bids), time-outs,
-- answer rate (answered / routed), average handle time of answered calls (seconds); and
-- traffic quality: buzzer-beaters (answered calls the buyer ended just before the buffer,
-- `Call.CallFlagged`) and their rate among answered calls, and its targets' automatic pauses
-- (`Target.AutoPaused`) in the period. `group_by=target`: buyers_targets.sql.
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
           count(*) FILTER (WHERE answered AND list_contains(string_split(flags, ','),
                                                             'buzzer_beater')) AS buzzer_beaters,
           avg(duration_s) FILTER (WHERE answered) AS handle_s
    FROM calls
    WHERE buyer_id IS NOT NULL
      AND ($start IS NULL OR pinged_at >= $start) AND ($end IS NULL OR pinged_at < $end)
    GROUP BY buyer_id
), paused AS (
    SELECT t.buyer_id, count(*) AS auto_pauses
    FROM auto_pauses p JOIN targets t USING (target_id)
    WHERE ($start IS NULL OR p.paused_at >= $start) AND ($end IS NULL OR p.paused_at < $end)
    GROUP BY t.buyer_id
)
SELECT a.buyer_id, b.name,
       a.requests::BIGINT AS bid_requests,
       a.bids::BIGINT AS bids,
       round(a.bids / nullif(a.requests, 0), 4) AS bid_rate,
       coalesce(s.wins, 0)::BIGINT AS wins,
       round(coalesce(s.wins, 0) / nullif(a.bids, 0), 4) AS win_rate,
       a.timeouts::BIGINT AS timeouts,
       round(coalesce(s.answered, 0) / nullif(s.routed, 0), 4) AS answer_rate,
       round(s.handle_s, 1) AS average_handle_s,
       coalesce(s.answered, 0)::BIGINT AS answers,
       coalesce(s.buzzer_beaters, 0)::BIGINT AS buzzer_beaters,
       round(coalesce(s.buzzer_beaters, 0) / nullif(s.answered, 0), 4) AS buzzer_beater_rate,
       coalesce(p.auto_pauses, 0)::BIGINT AS auto_pauses
FROM asked a
LEFT JOIN served s USING (buyer_id)
LEFT JOIN paused p USING (buyer_id)
LEFT JOIN buyers b USING (buyer_id)
WHERE ($buyer_id IS NULL OR a.buyer_id = $buyer_id)
ORDER BY a.buyer_id

-- Buyer performance per target (`GET /v1/reports/buyers?group_by=target`): every target of
-- the buyers (its campaign too), the calls routed to it, answered (answer rate), the
-- buzzer-beaters among them (`Call.CallFlagged`: the buyer ended the call within its
-- campaign's margin before the buffer) and their rate among answered calls, short calls, the
-- average handle time, and its automatic pauses (`Target.AutoPaused`) in the period.
WITH served AS (
    SELECT target_id,
           count(*) FILTER (WHERE posted) AS routed,
           count(*) FILTER (WHERE answered) AS answered,
           count(*) FILTER (WHERE answered AND list_contains(string_split(flags, ','),
                                                             'buzzer_beater')) AS buzzer_beaters,
           count(*) FILTER (WHERE answered AND list_contains(string_split(flags, ','),
                                                             'short_call')) AS short_calls,
           avg(duration_s) FILTER (WHERE answered) AS handle_s
    FROM calls
    WHERE target_id IS NOT NULL
      AND ($start IS NULL OR pinged_at >= $start) AND ($end IS NULL OR pinged_at < $end)
    GROUP BY target_id
), paused AS (
    SELECT target_id, count(*) AS auto_pauses
    FROM auto_pauses
    WHERE ($start IS NULL OR paused_at >= $start) AND ($end IS NULL OR paused_at < $end)
    GROUP BY target_id
)
SELECT t.buyer_id, b.name, t.target_id, t.campaign_id,
       coalesce(s.routed, 0)::BIGINT AS routed,
       coalesce(s.answered, 0)::BIGINT AS answers,
       round(coalesce(s.answered, 0) / nullif(s.routed, 0), 4) AS answer_rate,
       coalesce(s.buzzer_beaters, 0)::BIGINT AS buzzer_beaters,
       round(coalesce(s.buzzer_beaters, 0) / nullif(s.answered, 0), 4) AS buzzer_beater_rate,
       coalesce(s.short_calls, 0)::BIGINT AS short_calls,
       round(s.handle_s, 1) AS average_handle_s,
       coalesce(p.auto_pauses, 0)::BIGINT AS auto_pauses
FROM targets t
LEFT JOIN served s USING (target_id)
LEFT JOIN paused p USING (target_id)
LEFT JOIN buyers b ON b.buyer_id = t.buyer_id
WHERE ($buyer_id IS NULL OR t.buyer_id = $buyer_id)
ORDER BY t.buyer_id, t.target_id

-- pings → bids → wins → posts → answers → billable
SELECT sum(pings)::BIGINT AS pings,
       sum(bids)::BIGINT AS bids,
       sum(wins)::BIGINT AS wins,
       sum(calls)::BIGINT AS posts,
       sum(answered)::BIGINT AS answers,
       sum(billable)::BIGINT AS billable
FROM pnl_hourly
WHERE ($start IS NULL OR hour >= $start)
  AND ($end IS NULL OR hour < $end)
  AND ($publisher_id IS NULL OR publisher_id = $publisher_id)
  AND ($buyer_id IS NULL OR buyer_id = $buyer_id)

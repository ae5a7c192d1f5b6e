-- Account balances as of a moment: posted and pending debits/credits (TigerBeetle's four).
SELECT account,
       coalesce(sum(debit_cents) FILTER (WHERE phase = 'posted'), 0)::BIGINT AS debits_posted,
       coalesce(sum(credit_cents) FILTER (WHERE phase = 'posted'), 0)::BIGINT AS credits_posted,
       (coalesce(sum(debit_cents) FILTER (WHERE phase = 'pending'), 0)
        - coalesce(sum(debit_cents) FILTER (WHERE phase = 'released'), 0))::BIGINT
           AS debits_pending,
       (coalesce(sum(credit_cents) FILTER (WHERE phase = 'pending'), 0)
        - coalesce(sum(credit_cents) FILTER (WHERE phase = 'released'), 0))::BIGINT
           AS credits_pending
FROM ledger_entries
WHERE ($as_of IS NULL OR occurred_at <= $as_of)
  AND ($account IS NULL OR account = $account)
GROUP BY account
ORDER BY account

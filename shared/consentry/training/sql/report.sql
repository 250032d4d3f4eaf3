-- The report's counts in one pass over the export (Athena bills each scan): one row per grouping set.
-- dimension `objects` (label ''): the totals; `reason`, `tier` (label NULL: no consent record), `month`
-- (of expires_at), `state`. eligible / not_eligible / held / due / tag_errors / users count stored chats
-- (every chat record but removed ones); `records` counts every chat record of the group, removed too.
-- Users are the groups of the set (pk), counted by a window: a COUNT(DISTINCT) in every grouping set
-- would hold a set of keys per group; a second query would scan the export twice.
WITH chat_rows AS (
  SELECT
    pk,
    reason,
    tier,
    state,
    eligible,
    held,
    tag_error,
    expires_at,
    SUBSTR(expires_at, 1, 7) AS expiry_month,
    state <> 'removed' AS stored
  FROM chats
),
grouped AS (
  SELECT
    CASE
      WHEN GROUPING(reason) = 0 THEN 'reason'
      WHEN GROUPING(tier) = 0 THEN 'tier'
      WHEN GROUPING(expiry_month) = 0 THEN 'month'
      WHEN GROUPING(state) = 0 THEN 'state'
      WHEN GROUPING(pk) = 0 THEN 'user'
      ELSE 'objects'
    END AS dimension,
    CASE
      WHEN GROUPING(reason) = 0 THEN reason
      WHEN GROUPING(tier) = 0 THEN tier
      WHEN GROUPING(expiry_month) = 0 THEN expiry_month
      WHEN GROUPING(state) = 0 THEN state
      ELSE ''
    END AS label,
    COUNT_IF(stored AND eligible) AS eligible,
    COUNT_IF(stored AND NOT eligible) AS not_eligible,
    COUNT(*) AS records,
    COUNT_IF(stored AND held) AS held,
    COUNT_IF(stored AND NOT held AND expires_at <= $now) AS due,
    COUNT_IF(stored AND tag_error IS NOT NULL) AS tag_errors
  FROM chat_rows
  GROUP BY GROUPING SETS ((reason), (tier), (expiry_month), (state), (pk), ())
)
SELECT dimension, label, eligible, not_eligible, records, held, due, tag_errors, users
FROM (
  SELECT
    grouped.*,
    COUNT_IF(dimension = 'user' AND eligible + not_eligible > 0) OVER () AS users
  FROM grouped
) AS counted
WHERE dimension <> 'user'

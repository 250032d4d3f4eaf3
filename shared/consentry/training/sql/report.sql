-- The report's counts, one row per (dimension, label): eligible and not eligible chat objects.
-- Stored objects are every chat record but removed ones; `state` counts every chat record.
WITH stored AS (
  SELECT * FROM chats WHERE state <> 'removed'
)
SELECT 'objects' AS dimension, '' AS label,
  COUNT_IF(eligible) AS eligible, COUNT_IF(NOT eligible) AS not_eligible
FROM stored
UNION ALL
SELECT 'reason', reason, COUNT_IF(eligible), COUNT_IF(NOT eligible) FROM stored GROUP BY reason
UNION ALL
SELECT 'tier', tier, COUNT_IF(eligible), COUNT_IF(NOT eligible) FROM stored GROUP BY tier
UNION ALL
SELECT 'month', SUBSTR(expires_at, 1, 7), COUNT_IF(eligible), COUNT_IF(NOT eligible)
FROM stored GROUP BY SUBSTR(expires_at, 1, 7)
UNION ALL
SELECT 'state', state, COUNT_IF(eligible), COUNT_IF(NOT eligible) FROM chats GROUP BY state
UNION ALL
SELECT 'held', '', COUNT_IF(held AND eligible), COUNT_IF(held AND NOT eligible) FROM stored
UNION ALL
SELECT 'due', '', COUNT_IF(eligible AND NOT held AND expires_at <= $now),
  COUNT_IF(NOT eligible AND NOT held AND expires_at <= $now)
FROM stored
UNION ALL
SELECT 'tag_errors', '', COUNT_IF(eligible AND tag_error IS NOT NULL), COUNT_IF(NOT eligible AND tag_error IS NOT NULL)
FROM stored
UNION ALL
SELECT 'users', '', COUNT(DISTINCT pk), 0 FROM stored

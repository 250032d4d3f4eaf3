-- The manifest: every chat version eligible at $at, as the ledger export holds it.
-- Eligible at T: decided eligible (`consent-granted`), live (active or archived, not deleted), tags written (no
-- tag_error), a version named, last activity at or before T and not due at T. Not covered by a deletion or an
-- erasure request recorded at or before T, applied to the chat's record or not: a request covers the chats whose
-- last activity is at or before its time (a later write starts a new life, as the erasure flow decides).
-- A missing attribute fails its test (NULL is never true): the chat is left out. Instants are fixed-width ISO text.
-- No ORDER BY: rows stream from the export to the files (DuckDB) and UNLOAD writes in parallel (Athena).
WITH erased AS (
  -- a request without a time covers every chat of the user
  SELECT pk, MAX(COALESCE(requested_at, '9999-12-31T23:59:59.999999Z')) AS requested_at
  FROM erasures
  WHERE requested_at IS NULL OR requested_at <= $at
  GROUP BY pk
)
SELECT
  $bucket AS bucket,
  c.chat_key AS "key",
  c.version_id,
  c.consent_version,
  c.policy_version,
  c.expires_on,
  c.sk AS chat_sk
FROM chats AS c
LEFT JOIN erased AS e ON e.pk = c.pk
WHERE c.eligible
  AND c.reason = 'consent-granted'
  AND c.state IN ('active', 'archived')
  AND c.deleted_at IS NULL
  AND (c.last_deleted_at IS NULL OR c.last_activity > c.last_deleted_at)
  AND (e.requested_at IS NULL OR c.last_activity > e.requested_at)
  AND c.tag_error IS NULL
  AND c.version_id IS NOT NULL
  AND c.version_id <> ''
  AND c.consent_version IS NOT NULL
  AND c.last_activity <= $at
  AND c.expires_at > $at

-- The manifest: every chat version eligible at $at, as the ledger export holds it.
-- Eligible at T: decided eligible, live (active or archived, not deleted), tags written (no tag_error),
-- a version named, last activity at or before T and not due at T. Instants are fixed-width ISO text.
-- No ORDER BY: rows stream from the export to the files (DuckDB) and UNLOAD writes in parallel (Athena).
SELECT
  $bucket AS bucket,
  chat_key AS "key",
  version_id,
  consent_version,
  policy_version,
  expires_on,
  sk AS chat_sk
FROM chats
WHERE eligible
  AND state IN ('active', 'archived')
  AND deleted_at IS NULL
  AND tag_error IS NULL
  AND version_id IS NOT NULL
  AND version_id <> ''
  AND consent_version IS NOT NULL
  AND last_activity <= $at
  AND expires_at > $at

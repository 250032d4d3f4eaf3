-- Verification: the manifest's entries that may no longer be read, each with the first reason found
-- in a fresh export of the ledger (an anti-join on key and version; no call per entry).
-- Reasons: not-a-chat (another bucket), gone (no record with this key: never recorded, or removed and
-- only a tombstone left), erased (covered by an erasure request), deleted, expired (swept, or due at
-- $now), the tag error (tag-limit), the record's policy reason when it is no longer eligible
-- (consent-denied, consent-pending, commercial-tier...), version-changed (the chat was written since).
-- Each chat's reason is found before the join, so that the join carries three columns per chat. Entries
-- are matched on the chat's hashed sort key when the manifest has it (Parquet): a removed chat's tombstone
-- keeps no key but its hash, and says why it went; else (the Batch Operations CSV) on the key.
WITH current_chats AS (
  SELECT
    c.sk,
    c.chat_key,
    c.version_id,
    CASE
      WHEN c.deleted_at IS NOT NULL AND e.pk IS NOT NULL THEN 'erased'
      WHEN c.deleted_at IS NOT NULL OR c.state = 'deleted' THEN 'deleted'
      WHEN c.state NOT IN ('active', 'archived') THEN 'expired'
      WHEN c.tag_error IS NOT NULL THEN c.tag_error
      WHEN NOT c.eligible THEN c.reason
      WHEN c.expires_at <= $now THEN 'expired'
    END AS revoked_by
  FROM chats AS c
  LEFT JOIN erasures AS e ON e.pk = c.pk AND e.requested_at = c.deleted_at
),
by_key AS (
  SELECT CASE WHEN $by_hash THEN m.chat_sk ELSE m."key" END AS match_key, m.*
  FROM manifest AS m
),
current_by_key AS (
  SELECT CASE WHEN $by_hash THEN sk ELSE chat_key END AS match_key, version_id, revoked_by, TRUE AS found
  FROM current_chats
)
SELECT *
FROM (
  SELECT
    m.bucket,
    m."key",
    m.version_id,
    m.consent_version,
    m.policy_version,
    m.expires_on,
    CASE
      WHEN m.bucket <> $bucket THEN 'not-a-chat'
      WHEN c.found IS NULL THEN 'gone'
      WHEN c.revoked_by IS NOT NULL THEN c.revoked_by
      WHEN c.version_id IS NULL OR c.version_id <> m.version_id THEN 'version-changed'
    END AS reason
  FROM by_key AS m
  LEFT JOIN current_by_key AS c ON c.match_key = m.match_key
) AS checked
WHERE reason IS NOT NULL
ORDER BY "key", version_id

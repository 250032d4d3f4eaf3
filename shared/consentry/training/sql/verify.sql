-- Verification: every entry of a manifest, with the first reason found in a fresh export of the ledger why it
-- may no longer be read (NULL: the ledger still allows it), and the chat's user and last activity now, by which
-- the caller checks the consent records themselves (a change whose retag has not reached the ledger yet).
-- An anti-join on key and version; no call per entry.
-- Reasons: not-a-chat (another bucket), gone (no record with this key: never recorded, or removed and only a
-- tombstone left), erased (covered by an erasure request recorded at or before $now, applied or not), deleted
-- (a deletion recorded, applied or not), expired (swept, or due at $now, or no expiry), the tag error
-- (tag-limit), the record's policy reason when it is no longer eligible (consent-denied, consent-pending,
-- commercial-tier...; not-eligible when it has none), version-changed (the chat was written since).
-- Each chat's reason is found before the join, so that the join carries a few columns per chat. Entries are
-- matched on the chat's hashed sort key when the manifest has it (Parquet): a removed chat's tombstone keeps no
-- key but its hash, and says why it went; else (the Batch Operations CSV) on the key.
WITH erased AS (
  SELECT pk, MAX(COALESCE(requested_at, '9999-12-31T23:59:59.999999Z')) AS requested_at
  FROM erasures
  WHERE requested_at IS NULL OR requested_at <= $now
  GROUP BY pk
),
current_chats AS (
  SELECT
    c.sk,
    c.chat_key,
    c.version_id,
    c.user_id,
    c.last_activity,
    CASE
      WHEN e.requested_at IS NOT NULL AND (c.last_activity IS NULL OR c.last_activity <= e.requested_at)
        THEN 'erased'
      WHEN c.deleted_at IS NOT NULL OR c.state = 'deleted' THEN 'deleted'
      WHEN c.last_deleted_at IS NOT NULL AND (c.last_activity IS NULL OR c.last_activity <= c.last_deleted_at)
        THEN 'deleted'
      WHEN c.state NOT IN ('active', 'archived') THEN 'expired'
      WHEN c.tag_error IS NOT NULL THEN c.tag_error
      WHEN NOT c.eligible OR c.reason IS NULL OR c.reason <> 'consent-granted' THEN COALESCE(c.reason, 'not-eligible')
      WHEN c.expires_at IS NULL OR c.expires_at <= $now THEN 'expired'
    END AS revoked_by
  FROM chats AS c
  LEFT JOIN erased AS e ON e.pk = c.pk
),
by_key AS (
  SELECT CASE WHEN $by_hash THEN m.chat_sk ELSE m."key" END AS match_key, m.*
  FROM manifest AS m
),
current_by_key AS (
  SELECT
    CASE WHEN $by_hash THEN sk ELSE chat_key END AS match_key,
    version_id,
    revoked_by,
    user_id,
    last_activity,
    TRUE AS found
  FROM current_chats
)
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
  END AS reason,
  c.user_id,
  c.last_activity
FROM by_key AS m
LEFT JOIN current_by_key AS c ON c.match_key = m.match_key

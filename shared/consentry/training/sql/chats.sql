-- Chat records of a ledger export, one row per item whose sort key begins `chat#`.
-- `ledger` is the export: one row per item, its attributes in the struct `Item` as DynamoDB JSON
-- encodes them ({"S": ...}, {"N": "3"}, {"BOOL": true}; {"NULL": true} or no attribute reads as NULL).
-- Never parse pk/sk: keys may be hashes. Tombstones (state `removed`) have no user_id, key, activity or version.
SELECT
  Item.pk.S AS pk,
  Item.sk.S AS sk,
  Item.user_id.S AS user_id,
  Item."key".S AS chat_key,
  Item.last_activity.S AS last_activity,
  COALESCE(Item.eligible.BOOL, FALSE) AS eligible,
  Item.reason.S AS reason,
  TRY_CAST(Item.retention_days.N AS BIGINT) AS retention_days,
  Item.expires_at.S AS expires_at,
  Item.expires_on.S AS expires_on,
  Item.policy_version.S AS policy_version,
  TRY_CAST(Item.consent_version.N AS BIGINT) AS consent_version,
  Item.tier.S AS tier,
  COALESCE(Item.state.S, 'active') AS state,
  Item.deleted_at.S AS deleted_at,
  Item.last_deleted_at.S AS last_deleted_at,
  COALESCE(Item.held.BOOL, FALSE) AS held,
  Item.tag_error.S AS tag_error,
  Item.version_id.S AS version_id
FROM ledger
WHERE Item.sk.S LIKE 'chat#%'

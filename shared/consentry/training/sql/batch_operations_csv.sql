-- The manifest's rows as S3 Batch Operations reads them: bucket, key URL-encoded as Python's
-- quote(key, safe="/") does (consentry.service.aws.batch_ops.encode_key), version id, then the decision.
-- One expression for both engines: DuckDB's url_encode keeps `~` and encodes `+`, `*` and `/`;
-- Trino's encodes a space as `+` (a literal `+` as %2B), `~` as %7E and keeps `*`.
SELECT
  m.bucket,
  REPLACE(REPLACE(REPLACE(REPLACE(URL_ENCODE(m."key"), '+', '%20'), '%2F', '/'), '%7E', '~'), '*', '%2A') AS "key",
  m.version_id,
  m.consent_version,
  m.policy_version,
  m.expires_on
FROM manifest AS m

"""The ledger table's schema: attribute names, the `due` index, the TTL attribute, the shard count.

One place that the adapter (`consentry.service.aws.ledger`), the deployment facts
(`consentry.service.deployment`, hence `provision` and `infra/`) and the settings
read. Plain constants: a function's cold start imports it for free.
"""

from __future__ import annotations

PK = "pk"
SK = "sk"
DUE_INDEX = "due"
DUE_SHARD = "due_shard"  # the `due` index's partition key: a shard chosen by a hash of the object key
EXPIRES_AT = "expires_at"  # the `due` index's sort key: the sweep asks `expires_at <= now`
TTL = "ttl"  # epoch seconds; DynamoDB removes the item some time after
# The sweep claims a due record by its keys alone (a conditional write returns the record): keys only halves the
# index's storage and write units (docs/cost.md).
DUE_PROJECTION = "KEYS_ONLY"
# Shards of the `due` index (its partition key values, "000" to "999"): each takes at most one partition's 1,000
# write units a second, so S shards cap the index's writes near S x 1,000 a second. 16 serve a ledger of up to
# ~100M records; at 1B, 64 (docs/cost.md, At 1B objects). Raise it only: records keep the shard they were
# written with until their next write, and the sweep queries shards "000" to S-1.
DUE_SHARDS = 16
DUE_SHARDS_MAX = 1000  # shard names are three digits

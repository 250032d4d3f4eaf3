"""The cost budgets, in one place: the benchmark table and tests/benchmarks check these figures."""

from __future__ import annotations

TAG_S3_CALLS_PER_OBJECT = 2  # GetObject of one byte (facts and TagCount), PutObjectTagging
TAG_S3_CALLS_PER_TAGGED_OBJECT = 3  # and GetObjectTagging: the writer's tags are kept
TAG_CONSENT_CALLS_PER_100_USERS_PER_PASS = 1  # BatchGetItem; a settle reads twice (decide, then verify)
TAG_READ_PASSES = 2
TAG_LEDGER_WRITES_PER_OBJECT = 1
REDELIVERY_S3_WRITES = 0
REDELIVERY_LEDGER_WRITES = 0
RETAG_S3_CALLS_PER_CHANGED_CHAT = 2  # GetObjectTagging, PutObjectTagging
RETAG_S3_CALLS_PER_UNCHANGED_CHAT = 0
RETAG_PAGE_ITEMS = 500  # ledger Query page (consentry.service.flows.RETAG_PAGE)
RETAG_MEMORY_SPREAD = 1.25  # peak of one page at the largest N over the smallest: flat means about 1
SWEEP_T_SPREAD = 0.10  # the same D due: calls at T large within 10% of T small
SWEEP_DENSE_DUE = 1600  # 100 due per shard of 16: full sweep pages, as every night at scale
SWEEP_DYNAMODB_CALLS_PER_DUE = 2.2  # claim + tombstone, and the page's reads shared by its chats
SWEEP_ITEMS_READ_PER_DUE = 2.0  # the index entry and the batched check
IMPORT_VS_BOTO3 = 1.5  # as the layer ships, on the runtime's Python
OPTOUT_10K_SECONDS = 30.0  # the last of 10k chats retagged (one partition's 1,000 WCU/s: 10 s floor)
ERASURE_10K_SECONDS = 30.0  # the same for an erasure (two record writes per chat: 20 s floor)
ERASURE_MEASURED = 2000  # chats of the erasure run on moto (16 range pages, the listing pass), to check the model

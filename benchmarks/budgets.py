"""The budgets of issue 7, in one place: the benchmark table and tests/benchmarks check these figures."""

from __future__ import annotations

TAG_S3_CALLS_PER_OBJECT = 3  # HeadObject, GetObjectTagging, PutObjectTagging
TAG_CONSENT_CALLS_PER_100_USERS_PER_PASS = 1  # BatchGetItem; a settle reads twice (decide, then verify)
TAG_READ_PASSES = 2
TAG_LEDGER_WRITES_PER_OBJECT = 1
REDELIVERY_S3_WRITES = 0
REDELIVERY_LEDGER_WRITES = 0
RETAG_S3_CALLS_PER_CHANGED_CHAT = 2  # GetObjectTagging, PutObjectTagging
RETAG_S3_CALLS_PER_UNCHANGED_CHAT = 0
RETAG_PAGE_ITEMS = 500  # ledger Query page (consentry.flows.RETAG_PAGE)
RETAG_MEMORY_SPREAD = 1.25  # peak of one page at the largest N over the smallest: flat means about 1
SWEEP_T_SPREAD = 0.10  # the same D due: calls at T large within 10% of T small
IMPORT_VS_BOTO3 = 1.5
FANOUT_WORKERS = 100
FANOUT_HOP = 5  # an SQS hop to the next invocation, in API-call units
FANOUT_MIN_SPEEDUP = FANOUT_WORKERS / 2  # concurrency must pay: at least half of linear at W=100

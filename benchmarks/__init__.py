"""Cost benchmarks: API calls counted through botocore's event hooks, against moto.

`python -m benchmarks` (or `make bench`) runs every scenario and prints one
table: each budget of docs/cost.md, the measured figure, PASS or FAIL. Everything is
a count or a ratio of counts, except the handler import (a ratio of times
measured side by side with `import boto3`). Nothing here is a timed test.

Modules:
    calls      counting API calls (and DynamoDB capacity units) per operation
    deploy     a provisioned deployment on moto: in-process or a moto server in
               a child process (so that memory measurements see only our side)
    seed       fast seeding through moto's backends (ledger items, S3 objects)
    scenarios  tagging, redelivery, retag, sweep, driven through the handlers
    naive      the baseline: a nightly full listing that rereads and rewrites every tag
    fanout     the critical path of a retag through the work queue with W workers
    imports    handler cold import vs `import boto3`
    costs      AWS list prices and the cost model
    report     the table
"""

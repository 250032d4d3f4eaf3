"""How long the training side keeps what it writes: one list for the stack and for a local server.

A ledger export holds every live chat's key and user id, a snapshot manifest
the keys of eligible chats, Athena's results whatever a query returned: each
expires by an S3 lifecycle rule on its prefix (docs/privacy.md lists them).
The stack (`infra/training.py`) builds its rules from these prefixes and days;
on a local server `export.prepare_local` puts `lifecycle()` on the bucket it
makes, Athena's results included (a bucket of their own on AWS, a prefix of
the training bucket locally).

Example:
    >>> expirations()["manifests/"], expirations({"exportDays": 1, "manifestDays": 2, "athenaResultDays": 3})
    (30, {'exports/': 1, 'manifests/': 2, 'reports/': 2, 'athena-results/': 3})
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

EXPORTS = "exports/"
MANIFESTS = "manifests/"
COPY_REPORTS = "reports/"  # completion reports of training copy jobs (infra/training_reader.py)
ATHENA_RESULTS = "athena-results/"  # on a local server; on AWS the results have a bucket of their own
# The stack's context keys (`cdk deploy -c manifestDays=90`) and their defaults.
DEFAULT_DAYS: Mapping[str, int] = {"exportDays": 7, "manifestDays": 30, "athenaResultDays": 7}


def expirations(days: Mapping[str, int] = DEFAULT_DAYS) -> dict[str, int]:
    """Each prefix the training side writes and the days after which lifecycle removes what is under it."""
    return {
        EXPORTS: days["exportDays"],
        MANIFESTS: days["manifestDays"],
        COPY_REPORTS: days["manifestDays"],
        ATHENA_RESULTS: days["athenaResultDays"],
    }


def lifecycle(days: Mapping[str, int] = DEFAULT_DAYS) -> dict[str, Any]:
    """The training bucket's lifecycle as `PutBucketLifecycleConfiguration` takes it (a local server's)."""
    rules: list[dict[str, Any]] = [
        {"ID": f"Expire {prefix}", "Filter": {"Prefix": prefix}, "Status": "Enabled", "Expiration": {"Days": n}}
        for prefix, n in expirations(days).items()
    ]
    abort = {"DaysAfterInitiation": 1}
    rules.append({"ID": "Abort uploads", "Filter": {}, "Status": "Enabled", "AbortIncompleteMultipartUpload": abort})
    return {"Rules": rules}


__all__ = ["ATHENA_RESULTS", "COPY_REPORTS", "DEFAULT_DAYS", "EXPORTS", "MANIFESTS", "expirations", "lifecycle"]

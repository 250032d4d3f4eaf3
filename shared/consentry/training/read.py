"""Reading a manifest's chat versions as the training reader: the current version, kept only when it is the one named.

The bucket policy refuses the reader every `GetObjectVersion` (a noncurrent
version's tags may still say eligible after an opt-out retagged the current
one) and every current version not tagged `training-eligible=true`. So an
entry is read with a plain `GetObject` of its key, and its bytes are kept only
when S3 answers with the version the manifest names; another version means
the chat was written since (`version-changed`, as `snapshot verify` says).
No listing: the manifest names every key.

Example:
    >>> Read(SnapshotEntry("b", "chats/u/c.json", "v1", 1, "p@1", "2030-01-01"), None, "version-changed").ok
    False
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from consentry.training.snapshot import SnapshotEntry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's answers that mean "not readable now": refused by the bucket policy, or gone.
REFUSED, GONE = "refused", "gone"
VERSION_CHANGED = "version-changed"


@dataclass(frozen=True)
class Read:
    """One entry read: its bytes, or None and why not."""

    entry: SnapshotEntry
    body: bytes | None
    reason: str | None = None

    @property
    def ok(self) -> bool:
        return self.body is not None


def read_entry(s3: S3Client, entry: SnapshotEntry) -> Read:
    """The bytes of `entry`'s version if it is the key's current version and S3 lets this principal read it."""
    try:
        response = s3.get_object(Bucket=entry.bucket, Key=entry.key)
    except ClientError as err:
        code = err.response.get("Error", {}).get("Code", "")
        if code in ("AccessDenied", "403"):
            return Read(entry, None, REFUSED)
        if code in ("NoSuchKey", "404", "MethodNotAllowed"):  # MethodNotAllowed: a delete marker is current
            return Read(entry, None, GONE)
        raise
    with response["Body"] as body:
        if response.get("VersionId") != entry.version_id:
            return Read(entry, None, VERSION_CHANGED)  # bytes of a later version: never handed on
        return Read(entry, body.read())


__all__ = ["GONE", "REFUSED", "VERSION_CHANGED", "Read", "read_entry"]

"""The chat-log bucket: object facts, our tags, versions, legal holds.

The only place that knows S3's wire format and limits: 10 tags per object,
foreign tags kept, version-by-version deletion, Object Lock legal holds.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from botocore.exceptions import ClientError

from consentry.service.policy import Policy, is_incognito

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_TAG_LIMIT = 10  # S3 allows at most 10 tags per object
DELETE_BATCH = 1000  # DeleteObjects takes at most 1000 keys
LIST_PAGE = 1000  # ListObjectVersions returns at most 1000 versions per page
LOCK_REFUSALS = ("AccessDenied", "InvalidRequest")  # how DeleteObjects reports a version an Object Lock protects
_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound", "MethodNotAllowed"}
# How S3 says a version has no legal hold or retention (moto: no error, or an empty answer).
_NO_LOCK = {"NoSuchObjectLockConfiguration", "ObjectLockConfigurationNotFoundError"}


class ObjectFacts(NamedTuple):
    """What S3 tells the policy about the current version of a chat, and how many tags it carries."""

    key: str
    version_id: str | None
    last_modified: datetime
    incognito: bool
    tag_count: int | None = None  # None: not asked; 0: S3 answered without TagCount (no tags)


class ObjectVersion(NamedTuple):
    key: str
    version_id: str
    last_modified: datetime
    delete_marker: bool


class TagPlan(NamedTuple):
    """The full tag set to write and whether our five tags fit beside the foreign ones."""

    tags: dict[str, str]
    fits: bool


def plan_tags(current: Mapping[str, str], ours: Mapping[str, str], eligible_key: str) -> TagPlan:
    """Keep foreign tags, overwrite ours; fail closed when the 10-tag limit is hit.

    When our tags do not fit, the object gets `training-eligible=false` alone if
    a slot is free (replacing any value the writer put there), else nothing of
    ours: no tag means not eligible.
    """
    foreign = {k: v for k, v in current.items() if k not in ours}
    if len(foreign) + len(ours) <= S3_TAG_LIMIT:
        return TagPlan({**foreign, **ours}, fits=True)
    if len(foreign) < S3_TAG_LIMIT:
        return TagPlan({**foreign, eligible_key: "false"}, fits=False)
    return TagPlan(foreign, fits=False)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code"))


def _missing(err: ClientError) -> bool:
    return _code(err) in _MISSING


def _version(version_id: str | None) -> dict[str, Any]:
    return {"VersionId": version_id} if version_id else {}


class ChatStore:
    def __init__(self, client: S3Client, bucket: str, policy: Policy, once: S3Client | None = None) -> None:
        self.client = client
        self.once = once or client  # a client without SDK retries, for calls a blind retry would repeat
        self.bucket = bucket
        self.policy = policy

    def head(self, key: str) -> ObjectFacts | None:
        """Facts of the current version and its tag count; None when the object is gone (or a delete marker).

        A GetObject of the first byte answers what HeadObject does, at the same price, and `TagCount`
        besides (HeadObject does not): a new chat's tags are then read only when its writer put some.
        S3 includes TagCount only for a caller allowed s3:GetObjectTagging (infra/access.py grants it:
        without it a tagged object would read as untagged). An empty object has no first byte (416
        InvalidRange): it is asked again without a range. Any other error raises.
        """
        try:
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=key, Range="bytes=0-0")
            except ClientError as err:
                if _code(err) != "InvalidRange":
                    raise
                response = self.client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as err:
            if _missing(err):
                return None
            raise
        response["Body"].close()  # one byte at most (or a whole object written since the 416): never read
        return ObjectFacts(
            key=key,
            version_id=response.get("VersionId"),
            last_modified=response["LastModified"],
            incognito=is_incognito(response.get("Metadata", {}), self.policy),
            tag_count=response.get("TagCount", 0),
        )

    def tags(self, key: str, version_id: str | None = None) -> dict[str, str] | None:
        """The object's tags; None when the object (version) is gone."""
        try:
            response = self.client.get_object_tagging(Bucket=self.bucket, Key=key, **_version(version_id))
        except ClientError as err:
            if _missing(err):
                return None
            raise
        return {t["Key"]: t["Value"] for t in response.get("TagSet", [])}

    def put_tags(self, key: str, tags: Mapping[str, str], version_id: str | None = None) -> bool:
        """Replace the object's tags; False when the object (version) is gone."""
        try:
            self.client.put_object_tagging(
                Bucket=self.bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
                **_version(version_id),
            )
        except ClientError as err:
            if _missing(err):
                return False
            raise
        return True

    def versions(self, key: str) -> list[ObjectVersion]:
        """Every version and delete marker of exactly this key."""
        return [v for page in self.version_pages(key) for v in page[0] if v.key == key]

    def version_pages(
        self, prefix: str, key_marker: str | None = None, version_marker: str | None = None
    ) -> Iterator[tuple[list[ObjectVersion], tuple[str, str] | None]]:
        """Pages of versions under a prefix, each with the markers of the next page."""
        while True:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": LIST_PAGE}
            if key_marker:
                kwargs["KeyMarker"] = key_marker
                if version_marker:
                    kwargs["VersionIdMarker"] = version_marker
            response = self.client.list_object_versions(**kwargs)
            found = [
                ObjectVersion(v["Key"], v["VersionId"], v["LastModified"], delete_marker=False)
                for v in response.get("Versions", [])
            ] + [
                ObjectVersion(v["Key"], v["VersionId"], v["LastModified"], delete_marker=True)
                for v in response.get("DeleteMarkers", [])
            ]
            following = None
            if response.get("IsTruncated"):
                following = (response["NextKeyMarker"], response.get("NextVersionIdMarker", ""))
            yield found, following
            if following is None:
                return
            key_marker, version_marker = following

    def remove_versions(self, versions: Sequence[ObjectVersion]) -> set[str]:
        """Delete exactly these versions, 1000 per call; the keys of which an Object Lock kept a version.

        S3 refuses a locked version with `AccessDenied`, the code of a missing
        permission too: each refusal is confirmed on the version's legal hold
        and retention, and any other failure raises (retried, then the DLQ),
        so that a broken role is never mistaken for a legal hold.
        """
        locked: set[str] = set()
        for start in range(0, len(versions), DELETE_BATCH):
            chunk = versions[start : start + DELETE_BATCH]
            response = self.client.delete_objects(
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": v.key, "VersionId": v.version_id} for v in chunk], "Quiet": True},
            )
            errors = response.get("Errors", [])
            unexplained = [e for e in errors if not self._refused_by_lock(e, chunk)]
            if unexplained:
                codes = sorted({str(e.get("Code")) for e in unexplained})
                raise RuntimeError(f"DeleteObjects failed for {len(unexplained)} versions: {', '.join(codes)}")
            locked.update(str(e.get("Key")) for e in errors)
        return locked

    def _refused_by_lock(self, error: Mapping[str, Any], chunk: Sequence[ObjectVersion]) -> bool:
        if error.get("Code") not in LOCK_REFUSALS:
            return False
        key = str(error.get("Key"))
        # S3 names the version; moto does not: then any version of the key asked for may be the locked one.
        named = error.get("VersionId")
        candidates = [named] if named else [v.version_id for v in chunk if v.key == key and not v.delete_marker]
        return any(self.locked(key, version_id) for version_id in candidates)

    def locked(self, key: str, version_id: str | None) -> bool:
        """True when an Object Lock legal hold or an unexpired retention protects this version.

        S3 answers `NoSuchObjectLockConfiguration` for a version never held or
        retained; any other error (AccessDenied of a broken role above all) is
        raised, never read as "not locked".
        """
        if self.legal_hold(key, version_id) == "ON":
            return True
        try:
            retention = self.client.get_object_retention(Bucket=self.bucket, Key=key, **_version(version_id))
        except ClientError as err:
            if _code(err) in _NO_LOCK:
                return False
            raise
        until = retention.get("Retention", {}).get("RetainUntilDate")
        # Object Lock's own clock decides: S3 refused the delete, so the retention is in force.
        return until is not None

    def set_legal_hold(self, key: str, on: bool, versions: Sequence[ObjectVersion] | None = None) -> int:
        """Legal hold on or off on every version (delete markers cannot be held); the versions changed."""
        listed = self.versions(key) if versions is None else versions
        status: Literal["ON", "OFF"] = "ON" if on else "OFF"
        changed = 0
        for v in listed:
            if v.delete_marker or self.legal_hold(key, v.version_id) == status:
                continue  # a redelivered hold event writes nothing
            try:
                self.client.put_object_legal_hold(
                    Bucket=self.bucket, Key=key, VersionId=v.version_id, LegalHold={"Status": status}
                )
            except ClientError as err:
                if not _missing(err):
                    raise
                continue  # removed since the listing: nothing to hold
            changed += 1
        return changed

    def tag_versions(self, key: str, versions: Sequence[ObjectVersion], ours: Mapping[str, str]) -> list[ObjectVersion]:
        """Our tags on each of these versions still stored (foreign tags kept); those still stored."""
        stored = []
        for v in versions:
            if v.delete_marker:
                continue
            found = self.tags(key, v.version_id)
            if found is None:
                continue  # removed since the listing
            stored.append(v)
            plan = plan_tags(found, ours, self.policy.tags.eligible)
            if plan.tags != found:
                self.put_tags(key, plan.tags, v.version_id)
        return stored

    def hold_version(self, key: str, version_id: str) -> None:
        self.set_legal_hold(key, True, [ObjectVersion(key, version_id, datetime.min, delete_marker=False)])

    def legal_hold(self, key: str, version_id: str | None) -> str:
        """`ON` or `OFF` (a version never held has no legal hold configuration); other errors raise."""
        try:
            response = self.client.get_object_legal_hold(Bucket=self.bucket, Key=key, **_version(version_id))
        except ClientError as err:
            if _code(err) in _NO_LOCK or _missing(err):
                return "OFF"  # never held, or gone
            raise
        return str(response.get("LegalHold", {}).get("Status") or "OFF")

    def place_marker(self, key: str) -> str:
        """A delete marker on top of the key (the sweep's reversible first move); its version id.

        Not retried by the SDK: a retry after a lost answer would put a second marker that nobody knows of.
        """
        response = self.once.delete_object(Bucket=self.bucket, Key=key)
        return str(response.get("VersionId", ""))

    def remove_markers(self, key: str, markers: Sequence[ObjectVersion] | None = None) -> int:
        """Remove delete markers (these, or every one of the key): the versions under them are current again.

        Only the sweep puts delete markers on chat keys (the bucket policy lets
        no one else delete), so a marker found here is a sweep's, left by one
        that was overtaken or died.
        """
        found = [v for v in (self.versions(key) if markers is None else markers) if v.delete_marker]
        if found:
            self.remove_versions(found)
        return len(found)

    def sized_versions(self, key: str) -> list[tuple[ObjectVersion, int]]:
        """Every version and delete marker of exactly this key with its size in bytes (a marker's: 0), oldest first."""
        found: list[tuple[ObjectVersion, int]] = []
        for page in self.client.get_paginator("list_object_versions").paginate(Bucket=self.bucket, Prefix=key):
            found += [
                (ObjectVersion(key, v["VersionId"], v["LastModified"], delete_marker=False), int(v.get("Size", 0)))
                for v in page.get("Versions", [])
                if v["Key"] == key
            ]
            found += [
                (ObjectVersion(key, v["VersionId"], v["LastModified"], delete_marker=True), 0)
                for v in page.get("DeleteMarkers", [])
                if v["Key"] == key
            ]
        return sorted(found, key=lambda pair: (pair[0].last_modified, pair[0].version_id))

    def current_objects(self, prefix: str, start_after: str | None = None) -> Iterator[tuple[str, datetime]]:
        """The current objects under `prefix` (after the key `start_after`), in key order, with LastModified."""
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if start_after:
            kwargs["StartAfter"] = start_after
        for page in self.client.get_paginator("list_objects_v2").paginate(**kwargs):
            for found in page.get("Contents", []):
                yield found["Key"], found["LastModified"]

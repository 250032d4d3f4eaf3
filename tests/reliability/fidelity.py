"""Where moto answers differently from S3, answer as S3 does: a thin layer over the handlers' S3 clients.

Each difference is listed in docs/parity.md ("Versions, locks and notifications") with moto's code path:

* `DeleteObjects`: S3 reports each version an Object Lock refused with its key AND its `VersionId`;
  moto (`S3Response._bucket_response_delete_keys` from `S3Backend.delete_objects`) names only the key. After the call,
  the error of a key becomes one error per requested version that is still stored and locked.
* Notifications: S3's carry `versionId`; moto's (`moto.s3.notifications._get_s3_event`) do not. The
  harness adds it when `Deployment.notify_versions` is on (`Deployment._stamp`); off, moto's shape.
* `LastModified` of a version is its write's event time: `FakeS3Clock` (moto's `utcnow` in its S3 module).

Per-version tags and legal holds are moto's own (`FakeKey.tags` via the tagging backend, and
`FakeKey.lock_legal_status`, both on the version's `FakeKey`), as in S3: nothing to add.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from moto.s3.models import s3_backends


def _version(bucket: str, key: str, version_id: str) -> Any:
    for by_region in s3_backends.values():
        backend = by_region["global"]
        if bucket in backend.buckets:
            try:
                return backend.get_object(bucket, key, version_id=version_id)
            except Exception:  # moto raises its own "missing" errors: a version gone is not refused
                return None
    return None


class S3Fidelity:
    """Installed on the handlers' S3 clients: `DeleteObjects` errors name the refused version, as on S3."""

    def __init__(self) -> None:
        self._clients: list[Any] = []
        self.rewritten = 0  # errors that moto gave by key and this layer gave by version

    @contextmanager
    def installed(self, clients: Sequence[Any]) -> Iterator[S3Fidelity]:
        for client in clients:
            client.meta.events.register("before-parameter-build.s3.DeleteObjects", self._remember)
            client.meta.events.register("after-call.s3.DeleteObjects", self._name_versions)
            self._clients.append(client)
        try:
            yield self
        finally:
            for client in self._clients:
                client.meta.events.unregister("before-parameter-build.s3.DeleteObjects", self._remember)
                client.meta.events.unregister("after-call.s3.DeleteObjects", self._name_versions)
            self._clients.clear()

    def _remember(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["fidelity_delete"] = (params.get("Bucket"), list(params.get("Delete", {}).get("Objects", [])))

    def _name_versions(self, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        bucket, asked = context.get("fidelity_delete", (None, []))
        errors = parsed.get("Errors")
        if not errors or bucket is None:
            return
        named = []
        for error in errors:
            if error.get("VersionId") or error.get("Code") != "AccessDenied":
                named.append(error)
                continue
            for obj in asked:
                if obj.get("Key") != error.get("Key") or not obj.get("VersionId"):
                    continue
                version = _version(bucket, obj["Key"], obj["VersionId"])
                if version is not None and getattr(version, "lock_legal_status", None) == "ON":
                    named.append({**error, "VersionId": obj["VersionId"]})
                    self.rewritten += 1
        parsed["Errors"] = named

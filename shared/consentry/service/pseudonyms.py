"""Keyed hashes of user ids and object keys: what the ledger's keys, tombstones and log lines carry.

A chat key names its user and its chat (and in real apps often its title), so
nothing we keep past a chat's retention may hold it in plain text. An HMAC
with a secret held outside the ledger (Secrets Manager, `HASH_KEY_SECRET`)
turns it into a stable pseudonym: the same key always gives the same hash,
so an operator with the secret can find a chat's record and log lines, and
nobody without it can tell which user or chat a tombstone was. One hash for
the ledger, the audit trail, `explain` and log lines; whatever this process
hashed, its log lines also scrub where it appears (`observability.mention`).

Example:
    >>> names = Pseudonyms(b"0" * 32)
    >>> names.user("u1") == names.user("u1") != names.key("u1")
    True
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

from consentry.service.observability import mention

if TYPE_CHECKING:
    from mypy_boto3_secretsmanager import SecretsManagerClient

HASH_CHARS = 32  # 128 bits of the HMAC-SHA256, as hex: collisions are out of reach, keys stay short


class Pseudonyms:
    """HMAC-SHA256 pseudonyms, one namespace for users and one for object keys."""

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the hash key must hold at least 16 bytes")
        self._secret = secret

    def _hash(self, namespace: str, value: str) -> str:
        digest = hmac.new(self._secret, f"{namespace}\0{value}".encode(), hashlib.sha256).hexdigest()
        return digest[:HASH_CHARS]

    def user(self, user_id: str) -> str:
        mention("user", user_id)
        return self._hash("user", user_id)

    def key(self, key: str) -> str:
        """The hash of `key` exactly as stored: never decoded first (a `+` or `%` in it is part of it)."""
        mention("key", key)
        return self._hash("key", key)

    @classmethod
    def from_secret(cls, client: SecretsManagerClient | Any, secret_id: str) -> Pseudonyms:
        """The key held in a Secrets Manager secret (its SecretString, hex or text)."""
        value = client.get_secret_value(SecretId=secret_id)["SecretString"]
        try:
            secret = bytes.fromhex(value)
        except ValueError:
            secret = value.encode()
        return cls(secret)

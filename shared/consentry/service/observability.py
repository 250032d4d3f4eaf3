"""One Logger and one Metrics for the package (Powertools, structured JSON / EMF), and what keeps keys out of logs.

Hash at the source: code names a chat or a user in a log line by the fields
`key`, `keys` and `user_id` (raw values), and the formatter writes them as
`key_hash`, `key_hashes` and `user_hash`, keyed hashes from the one
`Pseudonyms` that the ledger, `explain` and the audit trail use. A key is
opaque bytes: it is hashed as stored, never decoded first, so a `+` or a `%`
in it gives the same hash everywhere.

The second net, `scrub`, runs on every string of a line before it is JSON
encoded (so a `"`, `\\`, `<`, `>`, tab or newline in a key is still seen
raw), in messages, extras, exception texts and stack traces alike, including
what we do not write ourselves (AWS error messages quote the resource ARN):

- anything shaped like one of our object keys (or a user's listing prefix)
  becomes its hash: as is when it appears plain, decoded when it appears
  fully URL-encoded (`chats%2F...`);
- every user id and key this invocation named (parsed from its event, or
  hashed by `Pseudonyms`) becomes its hash wherever it appears, bare or not.

When the hash key is not known (the secret could not be read), values become
`<key>` / `<user>`: a line never falls back to the raw value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from consentry.service.pseudonyms import Pseudonyms

Kind = Literal["key", "user"]

_scrub: re.Pattern[str] | None = None
_protected: tuple[tuple[tuple[str, str], ...], Pseudonyms | None] | None = None
# Values named in this invocation -> their kind; cleared at each invocation's start (`forget`). Found in a text by
# their first `_PROBE` characters (`_by_start`), so a line costs its length, not the number of values named.
_named: dict[str, Kind] = {}
_by_start: dict[str, list[str]] = {}
_short: set[str] = set()  # values shorter than a probe
_PROBE = 4
_named_lock = threading.Lock()
NAMED_MAX = 20_000  # a page names at most a few thousand chats; a long-lived process drops the oldest half
# A bare value is matched only where it is not part of a longer word: a user id "jo" must not hide "json".
_WORD = r"[A-Za-z0-9_]"
# Fields the formatter writes as hashes: the field that names a value -> the field that carries its hash.
HASHED_FIELDS: Mapping[str, tuple[str, Kind]] = {
    "key": ("key_hash", "key"),
    "keys": ("key_hashes", "key"),
    "user_id": ("user_hash", "user"),
}
# Powertools' own fields: never a user's data, left as they are.
_OWN_FIELDS = frozenset({"level", "location", "timestamp", "service", "sampling_rate", "xray_trace_id", "cold_start",
                         "function_name", "function_memory_size", "function_arn", "function_request_id"})  # fmt: skip


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON lines, with named values hashed and every string scrubbed before it is encoded."""

    def serialize(self, log: Any) -> str:
        clean = {}
        for field, value in dict(log).items():
            if field in HASHED_FIELDS:
                name, kind = HASHED_FIELDS[field]
                clean[name] = [hashed(kind, str(v)) for v in value] if field == "keys" else hashed(kind, str(value))
            elif field in _OWN_FIELDS:
                clean[field] = value
            else:
                clean[field] = _clean(value)
        return super().serialize(clean)


def _clean(value: Any) -> Any:
    """`value` with every string in it scrubbed (anything JSON would print through `str`, too)."""
    if isinstance(value, str):
        return scrub(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, Mapping):
        return {scrub(str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v) for v in value]
    return scrub(str(value))


def hashed(kind: Kind, value: str) -> str:
    """How a log line names `value`: its keyed hash, or `<key>` / `<user>` while the hash key is unknown."""
    names = _protected[1] if _protected else None
    if names is None:
        return f"<{kind}>"
    return names.key(value) if kind == "key" else names.user(value)


def _label(kind: Kind, value: str) -> str:
    found = hashed(kind, value)
    return found if found.startswith("<") else f"<{kind} {found}>"


def protect(patterns: Sequence[tuple[str, str]], names: Pseudonyms | None) -> None:
    """Scrub keys of these (prefix, suffix) patterns from every log line from now on, as hashes under `names`.

    A key's segments may hold any character but `/` (spaces, quotes, tabs, newlines): a match runs from the
    prefix to the suffix (or, for a user's listing prefix, to the next `/`); fully URL-encoded forms too.
    Matching too much only hides more text.
    """
    global _scrub, _protected
    if _protected == (tuple(patterns), names):
        return  # every invocation makes its Enforcer: compile once per container
    _protected = (tuple(patterns), names)
    plain, encoded = r"[^/]", r"(?:(?!%2F)[^\s\"\\<>/])"
    alternatives = []
    for prefix, suffix in patterns:
        alternatives.append(rf"{re.escape(prefix)}{plain}+/(?:{plain}*?{re.escape(suffix)})?")
        quoted, quoted_suffix = re.escape(quote(prefix, safe="")), re.escape(quote(suffix, safe=""))
        alternatives.append(rf"{quoted}{encoded}+(?:%2F{encoded}*?{quoted_suffix})?")
    _scrub = re.compile("|".join(alternatives), re.IGNORECASE)


def scrubbing() -> bool:
    """Whether the key patterns are known (`protect` ran): before that, only named values are scrubbed."""
    return _scrub is not None


def mention(kind: Kind, *values: str | None) -> None:
    """Values this invocation deals with (parsed from its event): scrubbed wherever a line shows them."""
    with _named_lock:
        if len(_named) + 2 * len(values) > NAMED_MAX:
            kept = list(_named.items())[NAMED_MAX // 2 :]
            _named.clear()
            _by_start.clear()
            _short.clear()
            for old, its_kind in kept:
                _remember(old, its_kind)
        for value in values:
            if value:
                _remember(value, kind)
                if kind == "key" and value.count("/") >= 2:  # POLICY.md's patterns: `<prefix>/<user_id>/<chat>`
                    _remember(value.split("/")[1], "user")


def _remember(value: str, kind: Kind) -> None:
    if value in _named:
        return
    _named[value] = kind
    if len(value) < _PROBE:
        _short.add(value)
    else:
        _by_start.setdefault(value[:_PROBE], []).append(value)


def _named_in(text: str) -> list[tuple[str, Kind]]:
    """The named values that occur in `text`, longest first."""
    with _named_lock:
        if not _named:
            return []
        found = {v for v in _short if v in text}
        for i in range(len(text) - _PROBE + 1):
            for value in _by_start.get(text[i : i + _PROBE], ()):
                if text.startswith(value, i):
                    found.add(value)
        return sorted(((v, _named[v]) for v in found), key=lambda pair: len(pair[0]), reverse=True)


def forget() -> None:
    """A new invocation: the values the last one named are not looked for any more."""
    with _named_lock:
        _named.clear()
        _by_start.clear()
        _short.clear()


def scrub(text: str) -> str:
    """`text` with our keys (by shape) and the values named in this invocation replaced by their hashes."""
    if _scrub is not None:

        def by_shape(match: re.Match[str]) -> str:
            found = match.group(0)  # plain (it holds a `/`): the key as stored; else fully URL-encoded
            return _label("key", found if "/" in found else unquote_plus(found))

        text = _scrub.sub(by_shape, text)
    for value, kind in _named_in(text):
        label = _label(kind, value)  # hex or `<user>`: nothing a template would read
        text = re.sub(rf"(?<!{_WORD}){re.escape(value)}(?!{_WORD})", label, text)
    return text


logger = Logger(service="consentry", logger_formatter=ScrubbingFormatter())
metrics = Metrics(namespace="consentry", service="consentry")


def count(name: str, value: int = 1) -> None:
    """Count an outcome (a failure, a rejection, a deletion) as a CloudWatch metric."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


__all__ = ["HASHED_FIELDS", "ScrubbingFormatter", "count", "forget", "hashed", "logger", "mention", "metrics",
           "protect", "scrub", "scrubbing"]  # fmt: skip

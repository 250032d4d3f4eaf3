"""One Logger and one Metrics for the package (Powertools, structured JSON / EMF), and what keeps keys out of logs.

Log lines name chats and users by their keyed hashes (`Enforcer.ref`). As a
net under that rule, every line is scrubbed before it is written: anything
that looks like one of our object keys (or a listing prefix of a user),
plain or URL-encoded, is replaced by its hash. That also covers what we do
not write ourselves: AWS error messages quote the resource ARN, exception
texts, tracebacks.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_plus

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from consentry.pseudonyms import Pseudonyms

_scrub: tuple[re.Pattern[str], Pseudonyms | None] | None = None
_protected: tuple[tuple[tuple[str, str], ...], Pseudonyms | None] | None = None


class ScrubbingFormatter(LambdaPowertoolsFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


def protect(patterns: Sequence[tuple[str, str]], names: Pseudonyms | None) -> None:
    """Scrub keys of these (prefix, suffix) patterns from every log line from now on, as hashes under `names`.

    A key's segments may hold spaces and any other character but `/`: a match runs from the prefix to the
    suffix (or, for a user's listing prefix, to the next `/`); URL-encoded forms too. Matching too much only
    hides more text.
    """
    global _scrub, _protected
    if _protected == (tuple(patterns), names):
        return  # every invocation makes its Enforcer: compile once per container
    _protected = (tuple(patterns), names)
    plain, encoded = r"[^/\"\\<>\n]", r"(?:(?!%2F)[^\s\"\\<>])"
    alternatives = []
    for prefix, suffix in patterns:
        alternatives.append(rf"{re.escape(prefix)}{plain}+/(?:{plain}*?{re.escape(suffix)})?")
        quoted, quoted_suffix = re.escape(quote(prefix, safe="")), re.escape(quote(suffix, safe=""))
        alternatives.append(rf"{quoted}{encoded}+(?:%2F{encoded}*?{quoted_suffix})?")
    _scrub = (re.compile("|".join(alternatives), re.IGNORECASE), names)


def scrub(text: str) -> str:
    if _scrub is None:
        return text
    pattern, names = _scrub

    def hashed(match: re.Match[str]) -> str:
        return f"<key {names.key(unquote_plus(match.group(0)))}>" if names else "<key>"

    return pattern.sub(hashed, text)


logger = Logger(service="consentry", logger_formatter=ScrubbingFormatter())
metrics = Metrics(namespace="consentry", service="consentry")


def count(name: str, value: int = 1) -> None:
    """Count an outcome (a failure, a rejection, a deletion) as a CloudWatch metric."""
    if value:
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

"""`consentry policy validate`: check a policy file, pointing at the line of every problem.

Syntax errors come from `tomllib` (its message carries line and column).
Semantic errors come from `consentry.service.policy` (the one place that knows the
rules); their message names the table and key, whose line is found in the
file. Keys and tables the bundled policy does not have are reported as
warnings with the nearest known name: a typo would otherwise go unnoticed.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from consentry.service.policy import DEFAULT_POLICY, Policy, PolicyError, policy_from_mapping

_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"^\s*(\[\[?)\s*([A-Za-z0-9_.\-\"' ]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=\s*")


@dataclass(frozen=True)
class Problem:
    severity: str  # error | warning
    message: str
    line: int | None = None
    column: int | None = None


@dataclass
class Validation:
    source: str
    text: str = ""
    policy: Policy | None = None
    problems: list[Problem] = field(default_factory=list)
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.policy is not None and not any(p.severity == "error" for p in self.problems)


@dataclass
class Layout:
    """Where tables and keys sit in a TOML text (1-based lines and columns)."""

    tables: dict[str, int] = field(default_factory=dict)
    array_tables: dict[str, list[int]] = field(default_factory=dict)
    keys: dict[tuple[str, int, str], tuple[int, int]] = field(default_factory=dict)

    @classmethod
    def of(cls, text: str) -> Layout:
        layout = cls()
        section, index = "", 0
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header:
                section = header.group(2).strip().strip("\"'")
                if header.group(1) == "[[":
                    layout.array_tables.setdefault(section, []).append(number)
                    index = len(layout.array_tables[section])
                else:
                    layout.tables.setdefault(section, number)
                    index = 0
                continue
            assign = _ASSIGN.match(line)
            if assign:
                name = assign.group(1).strip("\"'")
                layout.keys.setdefault((section, index, name), (number, assign.end() + 1))
        return layout

    def locate(self, section: str, key: str | None = None, index: int = 0) -> tuple[int | None, int | None]:
        if key is not None and (section, index, key) in self.keys:
            return self.keys[(section, index, key)]
        if index and section in self.array_tables and index <= len(self.array_tables[section]):
            return self.array_tables[section][index - 1], 1
        if section in self.tables:
            return self.tables[section], 1
        return None, None


def _locate_policy_error(message: str, layout: Layout) -> tuple[int | None, int | None]:
    """The line a PolicyError message is about: it names `[table] key` or `[[keys]] #n`."""
    if match := re.search(r"\[\[(\w+)\]\] #(\d+)", message):
        return layout.locate(match.group(1), None, int(match.group(2)))
    if "both consumer and commercial" in message:
        return layout.locate("tiers", "commercial")
    if "commercial_min_days exceeds" in message:
        return layout.locate("retention", "commercial_min_days")
    if match := re.search(r"missing table \[(\w+)\]", message):
        return None, None
    if match := re.search(r"\[(\w+)\] (\w+)", message):
        return layout.locate(match.group(1), match.group(2))
    if match := re.search(r"\[(\w+)\]", message):
        return layout.locate(match.group(1))
    return None, None


def bundled_text() -> str:
    return resources.files("consentry.service.policies").joinpath(DEFAULT_POLICY).read_text()


def _unknown_names(raw: Mapping[str, Any], known: Mapping[str, Any], layout: Layout) -> list[Problem]:
    problems = []
    for section, value in raw.items():
        if section not in known:
            hint = difflib.get_close_matches(section, list(known), n=1)
            line, col = layout.locate(section)
            suggestion = f" (did you mean [{hint[0]}]?)" if hint else ""
            problems.append(Problem("warning", f"unknown table [{section}]{suggestion}: ignored", line, col))
            continue
        expected = known[section]
        entries = value if isinstance(value, list) else [value]
        template = expected[0] if isinstance(expected, list) and expected else expected
        if not isinstance(template, Mapping):
            continue
        for i, entry in enumerate(entries, start=1):
            if not isinstance(entry, Mapping):
                continue
            for name in entry:
                if name not in template:
                    hint = difflib.get_close_matches(name, list(template), n=1)
                    index = i if isinstance(value, list) else 0
                    line, col = layout.locate(section, name, index)
                    suggestion = f" (did you mean {hint[0]}?)" if hint else ""
                    message = f"unknown key {name!r} in [{section}]{suggestion}: ignored"
                    problems.append(Problem("warning", message, line, col))
    return problems


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for name, value in raw.items():
        path = f"{prefix}.{name}" if prefix else name
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path))
        elif isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            for i, entry in enumerate(value, start=1):
                flat.update(_flatten(entry, f"{path}#{i}"))
        else:
            flat[path] = sorted(value) if isinstance(value, list) else value
    return flat


def validate(path: str | None) -> Validation:
    """Check the policy file at `path` (the bundled policy when None)."""
    if path is None:
        text, source = bundled_text(), f"bundled {DEFAULT_POLICY}"
    else:
        source = path
        try:
            text = Path(path).read_text()
        except OSError as err:
            return Validation(source, problems=[Problem("error", f"cannot read the file: {err.strerror}")])
        except UnicodeDecodeError as err:
            return Validation(source, problems=[Problem("error", f"not UTF-8 text: {err.reason}")])
    result = Validation(source, text)
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        position = _TOML_POSITION.search(message)
        line = int(position.group(1)) if position else None
        column = int(position.group(2)) if position else None
        message = _TOML_POSITION.sub("", message).strip()
        if "(at end of document)" in message:
            line = len(text.splitlines()) or 1
            message = message.replace("(at end of document)", "").strip() + " (at the end of the file)"
        result.problems.append(Problem("error", f"not valid TOML: {message}", line, column))
        return result
    layout = Layout.of(text)
    known = tomllib.loads(bundled_text())
    result.problems.extend(_unknown_names(raw, known, layout))
    try:
        result.policy = policy_from_mapping(raw, source)
    except PolicyError as err:
        errors = []
        for message in err.problems:
            if message.startswith(f"{source}: "):
                message = message[len(source) + 2 :]
            line, column = _locate_policy_error(message, layout)
            errors.append(Problem("error", message, line, column))
        result.problems[:0] = errors
        return result
    mine, bundled = _flatten(raw), _flatten(known)
    for name in sorted(set(mine) | set(bundled)):
        if name in mine and name in bundled and mine[name] != bundled[name]:
            result.differences.append(f"{name}: {bundled[name]!r} -> {mine[name]!r}")
        elif name in bundled and name not in mine:
            result.differences.append(f"{name}: {bundled[name]!r} -> (absent)")
    return result


def render(result: Validation) -> str:
    lines = []
    source_lines = result.text.splitlines()
    for problem in sorted(result.problems, key=lambda p: (p.severity != "error", p.line or 0)):
        where = result.source
        if problem.line is not None:
            where += f":{problem.line}"
            if problem.column is not None:
                where += f":{problem.column}"
        lines.append(f"{where}: {problem.severity}: {problem.message}")
        if problem.line is not None and 0 < problem.line <= len(source_lines):
            text = source_lines[problem.line - 1]
            lines.append(f"  {problem.line:>4} | {text}")
            if problem.column is not None:
                lines.append(f"       | {' ' * (problem.column - 1)}^")
    if result.ok:
        assert result.policy is not None
        lines.append(f"{result.source}: ok: {summary(result.policy)}")
        if result.differences:
            lines.append("  differs from the bundled policy:")
            lines.extend(f"    {d}" for d in result.differences)
    return "\n".join(lines)


def summary(policy: Policy) -> str:
    keys = ", ".join(f"{p.kind} {p.prefix}<user_id>/<id>{p.suffix}" for p in policy.keys)
    return (
        f"{policy.label}, effective {policy.effective_at:%Y-%m-%dT%H:%M:%SZ}; "
        f"consumer tiers {', '.join(sorted(policy.consumer_tiers))}; "
        f"commercial tiers {', '.join(sorted(policy.commercial_tiers))}; "
        f"retention {policy.eligible_days} days eligible, {policy.default_days} otherwise, "
        f"commercial {policy.commercial_min_days}-{policy.commercial_max_days}; keys {keys}"
    )


def as_json(result: Validation) -> dict[str, Any]:
    return {
        "file": result.source,
        "valid": result.ok,
        "policy": result.policy.label if result.policy else None,
        "errors": [p.__dict__ for p in result.problems if p.severity == "error"],
        "warnings": [p.__dict__ for p in result.problems if p.severity == "warning"],
        "differences_from_bundled": result.differences,
    }

"""The README's "## Command line" held to the CLI itself, so that the docs cannot drift.

- Every command and subcommand of the parser (`consentry.cli.main.build_parser`) has a line in the section's command
  list, every option of the parser is named in the section, and every `--option` the list names exists.
- Every schema of "### JSON output" parses; the commands that run cheaply in-process are run with `--json`
  against a small world, and what they print must be what the README says: the same keys (exactly, for every
  object whose keys are listed without "..."), the JSON types said, instants as `...Z`, dates as `YYYY-MM-DD`.

The schema notation is the README's own (see the comment lines at the top of its `text` block):
`label -> type` per command, `name = type` for a shape used by several, continuation lines indented.
"""

from __future__ import annotations

import argparse
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from queue import Empty, Queue
from typing import Any

import boto3
import pytest
from clirun import Result, local

import consentry
from consentry.cli.main import build_parser
from consentry.local import LocalRuntime, free_port
from support import set_consent, t

README = Path(__file__).resolve().parents[2] / "README.md"


# -- the README -----------------------------------------------------------------------------------------


def section(text: str, heading: str) -> str:
    start = text.index(f"\n{heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def command_line() -> str:
    return section(README.read_text(encoding="utf-8"), "## Command line")


def code_block(text: str, language: str) -> str:
    found = re.search(rf"```{language}\n(.*?)```", text, re.S)
    assert found, f"no ```{language} block"
    return found.group(1)


def command_list() -> str:
    return code_block(command_line(), "sh")


def schema_block() -> str:
    text = command_line()
    return code_block(text[text.index("\n### JSON output\n") :], "text")


# -- the schema notation ----------------------------------------------------------------------------------

PRIMITIVES = {"str", "int", "float", "bool", "instant", "date", "any"}
INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
TOKEN = re.compile(r"\s*(\.\.\.|[{}\[\]:,?]|[A-Za-z_][\w-]*)")


@dataclass
class Obj:
    fields: dict[str, Any] = field(default_factory=dict)
    spreads: list[str] = field(default_factory=list)
    open: bool = False


@dataclass
class Map:
    values: Any


@dataclass
class ListOf:
    items: Any


@dataclass
class Nullable:
    inner: Any


class Parser:
    def __init__(self, text: str) -> None:
        self.tokens: list[str] = []
        position = 0
        while position < len(text.rstrip()):
            found = TOKEN.match(text, position)
            assert found, f"cannot read the schema at {text[position : position + 30]!r}"
            self.tokens.append(found.group(1))
            position = found.end()
        self.at = 0

    def peek(self, ahead: int = 0) -> str | None:
        i = self.at + ahead
        return self.tokens[i] if i < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        token = self.peek()
        assert token is not None, "the schema ends too early"
        assert expected is None or token == expected, f"expected {expected!r}, found {token!r}"
        self.at += 1
        return token

    def whole(self) -> Any:
        schema = self.type()
        assert self.peek() is None, f"more after the schema: {self.tokens[self.at :]}"
        return schema

    def type(self) -> Any:
        token = self.take()
        if token == "{":
            schema = self.obj()
        elif token == "[":
            schema = ListOf(self.type())
            self.take("]")
        else:
            assert re.match(r"^[A-Za-z_]", token), f"not a type: {token!r}"
            schema = token
        if self.peek() == "?":
            self.take()
            schema = Nullable(schema)
        return schema

    def obj(self) -> Any:
        if self.peek() == "str" and self.peek(1) == ":":
            self.take()
            self.take(":")
            values = self.type()
            self.take("}")
            return Map(values)
        made = Obj()
        while self.peek() != "}":
            token = self.take()
            if token == "...":
                if self.peek() not in (",", "}"):
                    made.spreads.append(self.take())
                else:
                    made.open = True
            else:
                assert token not in made.fields, f"key {token!r} twice"
                self.take(":")
                made.fields[token] = self.type()
            if self.peek() != "}":
                self.take(",")
        self.take("}")
        return made


def entries(block: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(shapes by name, schemas by command label) of the README's schema block."""
    joined: list[str] = []
    for line in block.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line[0].isspace():
            assert joined, f"a continuation line first: {line!r}"
            joined[-1] += " " + line.strip()
        else:
            joined.append(line.strip())
    shapes: dict[str, Any] = {}
    commands: dict[str, Any] = {}
    for entry in joined:
        if " -> " in entry:
            label, text = entry.split(" -> ", 1)
            assert label not in commands, f"{label!r} twice"
            commands[label] = Parser(text).whole()
        else:
            name, eq, text = entry.partition(" = ")
            assert eq and re.match(r"^\w+$", name.strip()), f"neither `label -> type` nor `name = type`: {entry!r}"
            shapes[name.strip()] = Parser(text).whole()
    return shapes, commands


def resolve(schema: Any, shapes: dict[str, Any]) -> Any:
    """The schema with its shape names replaced and its spreads merged in."""
    if isinstance(schema, str):
        if schema in PRIMITIVES:
            return schema
        assert schema in shapes, f"unknown type or shape {schema!r}"
        return resolve(shapes[schema], shapes)
    if isinstance(schema, Nullable):
        return Nullable(resolve(schema.inner, shapes))
    if isinstance(schema, ListOf):
        return ListOf(resolve(schema.items, shapes))
    if isinstance(schema, Map):
        return Map(resolve(schema.values, shapes))
    merged = Obj(open=schema.open)
    for name, value in schema.fields.items():
        merged.fields[name] = resolve(value, shapes)
    for name in schema.spreads:
        spread = resolve(name, shapes)
        assert isinstance(spread, Obj), f"...{name}: not an object shape"
        for key, value in spread.fields.items():
            assert key not in merged.fields, f"...{name} repeats {key!r}"
            merged.fields[key] = value
        merged.open = merged.open or spread.open
    return merged


def schemas() -> dict[str, Any]:
    shapes, commands = entries(schema_block())
    return {label: resolve(schema, shapes) for label, schema in commands.items()}


def mismatches(value: Any, schema: Any, path: str = "$") -> Iterator[str]:
    """Where `value` is not what `schema` says."""
    if isinstance(schema, Nullable):
        if value is not None:
            yield from mismatches(value, schema.inner, path)
        return
    if isinstance(schema, str):
        ok = {
            "any": True,
            "str": isinstance(value, str),
            "int": isinstance(value, int) and not isinstance(value, bool),
            "float": isinstance(value, float),
            "bool": isinstance(value, bool),
            "instant": isinstance(value, str) and bool(INSTANT.match(value)),
            "date": isinstance(value, str) and bool(DATE.match(value)),
        }[schema]
        if not ok:
            yield f"{path}: {value!r} is not {schema}"
        return
    if isinstance(schema, ListOf):
        if not isinstance(value, list):
            yield f"{path}: {type(value).__name__}, not a list"
            return
        for i, item in enumerate(value):
            yield from mismatches(item, schema.items, f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        yield f"{path}: {type(value).__name__}, not an object"
        return
    if isinstance(schema, Map):
        for key, item in value.items():
            yield from mismatches(item, schema.values, f"{path}.{key}")
        return
    missing = [k for k in schema.fields if k not in value]
    extra = [k for k in value if k not in schema.fields]
    if missing:
        yield f"{path}: keys the README lists but the command does not print: {missing}"
    if extra and not schema.open:
        yield f"{path}: keys the command prints but the README does not list: {extra}"
    for key, item in schema.fields.items():
        if key in value:
            yield from mismatches(value[key], item, f"{path}.{key}")


# -- the command list --------------------------------------------------------------------------------------


def parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """(path, parser) of every command and subcommand; positional choices (`hold place|release`) as paths too."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))
        elif not action.option_strings and action.choices:
            for choice in action.choices:
                yield (*path, str(choice)), None


LINE = re.compile(r"^consentry((?: --[\w-]+(?: [^\s-]\S*)?)*) (\S+)(.*)$")


def listed(block: str) -> list[tuple[str, set[str]]]:
    """(command, the other words) of each line of the command list."""
    found = []
    for line in block.splitlines():
        command = line.split("#", 1)[0].rstrip()
        matched = LINE.match(command)
        if matched:
            found.append((matched.group(2), set(re.split(r"[\s|\[\]]+", matched.group(3)))))
    return found


def test_command_line_lists_every_command_subcommand_and_option() -> None:
    text, block = command_line(), command_list()
    lines = listed(block)
    known: set[str] = set()
    missing_paths, missing_options = [], []
    for path, parser in parsers(build_parser()):
        if path and not any(cmd == path[0] and set(path[1:]) <= words for cmd, words in lines):
            missing_paths.append(" ".join(path))
        if parser is None:
            continue
        for action in parser._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    known.add(option)
                    if not re.search(rf"{re.escape(option)}(?![\w-])", text):
                        missing_options.append(f"{' '.join(path) or 'consentry'} {option}")
    assert not missing_paths, f"commands without a line in the README's command list: {missing_paths}"
    assert not missing_options, f"options the README's Command line never names: {missing_options}"
    invented = sorted(set(re.findall(r"(?<![\w-])--[a-z][\w-]*", block)) - known)
    assert not invented, f"options in the README's command list that the parser does not have: {invented}"


# -- the schemas, against the commands ---------------------------------------------------------------------

# Labels of the README's schemas that no test here runs, and why. Every other label is run below.
NOT_RUN = {
    "consentry demo --json": "about 10 s of CPU; tests/cli/test_cli_json.py runs it",
    "consentry serve --json, seeded (with --seed)": "seeding costs what the demo costs",
    "consentry --real retag --all --json": "an S3 Batch Operations job on an AWS account",
}
SERVE_EVENTS = ("listening", "ready", "delivered", "stopped")  # test_serve_json_matches_the_readme


@dataclass(frozen=True)
class Run:
    """`consentry ARGV --json` against the world, whose output is the README's schema `label`."""

    label: str
    argv: tuple[str, ...]
    codes: tuple[int, ...] = (0,)


UNTRACKED = "chats/u5/g.json"  # put straight into the bucket before `backfill --dry-run` (never delivered)

# In this order (some change the world); `{tmp}` is the test's directory, `{audit_id}` the first audit entry's id.
STEPS: list[Run | str] = [
    Run("consentry explain KEY --json", ("explain", "chats/u1/a.json")),
    Run("consentry explain KEY --json", ("explain", "chats/u3/e.json")),  # no consent record: nulls
    Run("consentry explain --user ID --json", ("explain", "--user", "u2")),
    Run("consentry explain --user ID --json", ("explain", "--user", "u3")),
    Run("consentry consent show USER --json", ("consent", "show", "u2")),
    Run("consentry consent show USER --json", ("consent", "show", "u3")),
    Run("consentry consent simulate USER --json", ("consent", "simulate", "u2", "--granted")),
    Run(
        "consentry consent simulate USER --json",
        ("consent", "simulate", "u3", "--denied", "--tier", "free", "--at", "2025-09-01"),
    ),
    Run("consentry hold place|release KEY --json", ("hold", "place", "--user", "u2")),
    Run("consentry hold place|release KEY --json", ("hold", "release", "--user", "u2")),
    Run("consentry hold place|release KEY --json", ("hold", "place", "chats/u3/e.json")),  # due, held
    Run("consentry hold place|release KEY --json", ("hold", "place", "chats/u1/d.json")),  # kept by the erasure
    Run("consentry sweep --dry-run --json", ("sweep", "--dry-run", "--now", "2025-11-20")),
    Run("consentry sweep --dry-run --json", ("sweep", "--plan", "{tmp}/plan.json", "--now", "2025-11-20")),
    Run("consentry snapshot --json", ("snapshot", "--out", "{tmp}/snap.csv")),  # u4's chat eligible
    Run("consentry sweep --json", ("sweep", "--apply", "{tmp}/plan.json")),
    Run("consentry sweep --json", ("sweep", "--now", "2025-11-21")),
    Run("consentry erase --user ID --json", ("erase", "--user", "u1")),
    Run("consentry erase --user ID --json", ("erase", "--user", "u4")),
    Run("consentry erase status --user ID --json", ("erase", "status", "--user", "u1")),
    Run("consentry explain --user ID --json", ("explain", "--user", "u1")),  # an erasure request
    Run("consentry snapshot verify MANIFEST --json", ("snapshot", "verify", "{tmp}/snap.csv"), (3,)),
    UNTRACKED,
    Run("consentry backfill --dry-run --json", ("backfill", "--dry-run")),
    Run("consentry backfill --manifest FILE --json", ("backfill", "--manifest", "{tmp}/m.csv")),
    Run("consentry backfill --json", ("backfill",)),
    Run("consentry retag --all --dry-run --json", ("retag", "--all", "--dry-run")),
    Run("consentry retag --all --json", ("retag", "--all")),
    Run("consentry report --json", ("report", "--now", "2025-11-21")),
    Run("consentry report --out FILE --json", ("report", "--out", "{tmp}/r.html")),
    Run("consentry policy validate --json", ("policy", "validate")),
    Run("consentry policy validate --json", ("policy", "validate", "{tmp}/changed.toml")),  # warning, difference
    Run("consentry policy validate --json", ("policy", "validate", "{tmp}/broken.toml"), (1,)),  # an error
    Run("consentry dlq list --json", ("dlq", "list")),  # the world's dead letter
    Run("consentry dlq redrive --json", ("dlq", "redrive", "--dry-run")),
    Run("consentry dlq redrive --json", ("dlq", "redrive")),
    Run("consentry chat reopen|archive|delete KEY --json", ("chat", "reopen", "chats/u3/e.json", "--at", "2025-11-25")),
    Run("consentry consent set USER --json", ("consent", "set", "u5", "--granted", "--tier", "free")),
    Run("consentry audit --json", ("audit",)),
    Run("consentry audit --id ID --json", ("audit", "--id", "{audit_id}")),
]


def test_every_schema_parses_and_is_run_or_said_why_not() -> None:
    found = schemas()
    for label, schema in found.items():
        assert isinstance(schema, Obj) and not schema.open, f"{label}: the top level lists its keys, no '...'"
    assert set(NOT_RUN) <= set(found), f"not in the README any more: {set(NOT_RUN) - set(found)}"
    run = {step.label for step in STEPS if isinstance(step, Run)} | {
        f"consentry serve --json, {event}" for event in SERVE_EVENTS
    }
    assert set(found) - set(NOT_RUN) == run, (
        f"schemas no test runs: {sorted(set(found) - set(NOT_RUN) - run)}; "
        f"runs without a schema in the README: {sorted(run - set(found))}"
    )


@pytest.fixture
def world(server: LocalRuntime, tmp_path: Path) -> LocalRuntime:
    """Users granted then denied (u1), denied (u2), without a consent record (u3), granted (u4); their chats;
    a dead letter in the work queue's DLQ; two policy files beside the test (one changed, one broken)."""
    set_consent(server, "u1", "granted", t("2025-09-01"), tier="pro")
    set_consent(server, "u2", "denied", t("2025-09-01"), tier="free", version=3)
    set_consent(server, "u4", "granted", t("2025-09-01"), tier="max")
    server.put_chat("chats/u1/a.json", at=t("2025-09-10"))
    server.put_chat("chats/u1/d.json", at=t("2025-11-01"))
    server.put_chat("chats/u2/b.json", at=t("2025-09-10"))
    server.put_chat("chats/u2/c.json", at=t("2025-10-10"))
    server.put_chat("chats/u3/e.json", at=t("2025-09-15"))
    server.put_chat("chats/u4/f.json", at=t("2025-11-10"))
    server.settle()
    set_consent(server, "u1", "denied", t("2025-10-01"), tier="pro", version=2)  # a retag in the history
    server.settle()
    sqs = boto3.client("sqs", endpoint_url=server.endpoint_url, region_name="us-east-1")
    work = sqs.get_queue_attributes(QueueUrl=server.env["WORK_QUEUE_URL"], AttributeNames=["RedrivePolicy"])
    dlq_name = json.loads(work["Attributes"]["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
    sqs.send_message(
        QueueUrl=sqs.get_queue_url(QueueName=dlq_name)["QueueUrl"],
        MessageBody=json.dumps({"type": "retag", "user_id": "u9", "at": "2025-01-01T00:00:00Z"}),
    )
    bundled = (Path(consentry.__file__).parent / "service" / "policies" / "consumer-terms-2025.toml").read_text()
    changed = bundled.replace("eligible_days = 1825", "eligible_days = 1000\nshade = 1")
    assert changed != bundled
    (tmp_path / "changed.toml").write_text(changed)
    (tmp_path / "broken.toml").write_text(bundled.replace("eligible_days = 1825", 'eligible_days = "long"'))
    return server


def test_json_output_matches_the_readme(world: LocalRuntime, cli: Callable[..., Result], tmp_path: Path) -> None:
    found = schemas()
    problems: list[str] = []
    audit_id = ""
    for step in STEPS:
        if step == UNTRACKED:
            boto3.client("s3", endpoint_url=world.endpoint_url).put_object(
                Bucket=world.env["CHAT_BUCKET"], Key=UNTRACKED, Body=b"{}"
            )
            continue
        assert isinstance(step, Run)
        argv = [a.format(tmp=tmp_path, audit_id=audit_id) for a in step.argv]
        result = cli(*local(world), *argv, "--json")
        shown = f"consentry {' '.join(argv)} --json"
        assert result.code in step.codes, f"{shown}: exit {result.code}: {result.err}"
        document = json.loads(result.out)  # one document, nothing else on stdout
        problems += [f"{shown}: {p}" for p in mismatches(document, found[step.label])]
        if step.label == "consentry audit --json":
            assert document["entries"], "the commands above left no audit entry"
            audit_id = document["entries"][0]["id"]
    assert not problems, "\n".join(problems)


def test_serve_json_matches_the_readme() -> None:
    """`consentry serve --json` in-process (the function the command runs), one object per line, until 'ready'."""
    from moto.moto_api._internal.models import moto_api_backend

    from consentry.cli.serve import serve

    lines: Queue[str] = Queue()

    class Lines:
        def write(self, text: str) -> int:
            for line in text.splitlines():
                if line.strip():
                    lines.put(line)
            return len(text)

        def flush(self) -> None:
            pass

    stop = threading.Event()
    failed: list[BaseException] = []

    def run() -> None:
        try:
            serve(Lines(), port=free_port(), stop=stop, as_json=True)  # type: ignore[arg-type]
        except BaseException as err:
            failed.append(err)
            lines.put(json.dumps({"event": "failed"}))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    events: list[dict[str, Any]] = []
    try:
        while not events or events[-1]["event"] not in ("ready", "failed"):
            events.append(json.loads(lines.get(timeout=60)))
    finally:
        stop.set()
        thread.join(timeout=60)
        moto_api_backend.reset()  # the in-process moto backends: the next test starts empty
    assert not failed, failed
    while True:
        try:
            events.append(json.loads(lines.get_nowait()))
        except Empty:
            break
    found = schemas()
    problems = []
    for event in events:
        label = f"consentry serve --json, {event['event']}"
        assert label in found, f"an event the README does not document: {event['event']!r}"
        problems += [f"{event['event']}: {p}" for p in mismatches(event, found[label])]
    assert not problems, "\n".join(problems)
    assert [e["event"] for e in events if e["event"] != "delivered"] == ["listening", "ready", "stopped"]

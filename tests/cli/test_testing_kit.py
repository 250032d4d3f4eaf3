"""The kit for users' tests: the README's example runs as written, and moto is corrected only when asked.

Each check runs in a fresh Python process, as a user's test run starts: the
suite's own process has long applied the shim, so only a new one shows what
importing consentry, or `provision()` under a plain `moto.mock_aws`, does.
"""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"<!-- kit-example -->\n```python\n(.*?)```", text, re.S)
    assert found, "README.md lost its kit example"
    return found.group(1)


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


# What a user's offline script starts with: fake credentials, a region, no endpoint (moto in the process).
OFFLINE = """\
import os
os.environ.update(AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_DEFAULT_REGION="us-east-1")
os.environ.pop("AWS_ENDPOINT_URL", None)
"""


def offline(code: str) -> subprocess.CompletedProcess[str]:
    """`code` in a fresh Python, after `OFFLINE`."""
    return python(OFFLINE + textwrap.dedent(code))


def test_the_readme_example_is_ten_lines() -> None:
    assert len(readme_example().splitlines()) <= 10


def user_pytest(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.RunResult:
    """A user's pytest run with the kit loaded by name (whether or not this environment installed its entry
    point, which would load it a second time), and no other plugin."""
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    return pytester.runpytest_subprocess("-p", "consentry.testing", "-p", "no:cacheprovider", "-q")


def test_the_readme_example_passes_with_the_plugin(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    pytester.makepyfile(test_chat_app=readme_example())

    result = user_pytest(pytester, monkeypatch)

    result.assert_outcomes(passed=1)


def test_the_kit_sees_a_chat_that_stays_eligible(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """The reader is not blind: without the opt-out the chat stays readable, and a deletion ends it."""
    pytester.makepyfile(
        test_chat_app="""
        def test_kept(consentry, consentry_clock):
            consentry.set_consent("bo", "granted", tier="free")
            consentry.write_chat("chats/bo/c1.json")
            consentry_clock.advance(days=3)
            consentry.chat_event("Chat Reopened", "bo", "chats/bo/c1.json")
            assert consentry.training_reader.can_read("chats/bo/c1.json")
            assert consentry.training_reader.read("chats/bo/c1.json") == b"{}"
            consentry.chat_event("Chat Deleted", "bo", "chats/bo/c1.json")
            assert not consentry.training_reader.can_read("chats/bo/c1.json")
        """
    )

    result = user_pytest(pytester, monkeypatch)

    result.assert_outcomes(passed=1)


def test_the_plugin_is_registered_for_pytest() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["pytest11"] == {"consentry": "consentry.testing"}


def test_importing_consentry_patches_nothing() -> None:
    done = python(
        """
        import consentry.local, consentry.provision, consentry.cli.main, consentry.testing
        from moto.s3.models import FakeBucket
        print(getattr(FakeBucket.get_permission, "consentry", False))
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_provision_under_a_plain_mock_aws_accepts_the_chat_apps_writes() -> None:
    done = offline(
        """
        import boto3
        from moto import mock_aws
        from consentry.provision import provision

        with mock_aws():
            env = provision("app")
            s3 = boto3.client("s3")
            s3.put_object(Bucket=env["CHAT_BUCKET"], Key="chats/ava/c1.json", Body=b"{}")
            print(s3.get_object(Bucket=env["CHAT_BUCKET"], Key="chats/ava/c1.json")["Body"].read())
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "b'{}'"


def test_listing_versions_on_moto_copies_no_version_and_marks_the_latest() -> None:
    done = offline(
        """
        import gc
        import boto3
        from moto import mock_aws
        from moto.s3.models import FakeKey
        from consentry.provision import provision

        with mock_aws():
            env = provision("app")
            s3 = boto3.client("s3")
            for body in (b"1", b"2"):
                s3.put_object(Bucket=env["CHAT_BUCKET"], Key="chats/ava/c1.json", Body=body)
            gc.collect()
            before = sum(isinstance(o, FakeKey) for o in gc.get_objects())
            listed = s3.list_object_versions(Bucket=env["CHAT_BUCKET"])["Versions"]
            during = sum(isinstance(o, FakeKey) for o in gc.get_objects())
            print(before == during, sorted((v["Size"], v["IsLatest"]) for v in listed))
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "True [(1, False), (1, True)]"


def test_moto_lets_go_of_the_copies_it_makes_for_a_response_and_its_dashboard_lists_what_it_holds() -> None:
    done = offline(
        """
        import gc, json
        import boto3, requests
        from moto import mock_aws
        from moto.dynamodb.models.dynamo_type import Item
        from consentry.provision import provision

        def items():
            gc.collect()
            return sum(isinstance(o, Item) for o in gc.get_objects())

        with mock_aws():
            env = provision("app")
            dynamodb = boto3.client("dynamodb")
            table = env["CONSENT_TABLE"]
            dynamodb.put_item(TableName=table, Item={"user_id": {"S": "ava"}, "version": {"N": "1"}})
            before = items()
            for _ in range(20):  # each Scan answers with deep copies of the items it read
                dynamodb.scan(TableName=table)
            after = items()
            shown = requests.get("http://motoapi.amazonaws.com/moto-api/data.json").json()["dynamodb"]
            tables = sorted(env[k] for k in env if k.endswith("_TABLE"))
            print(before, after, sorted(t["name"] for t in shown["Table"]) == tables, len(shown["Item"]))
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "1 1 True 1"


def test_a_stream_read_that_finds_nothing_makes_no_new_shard_iterator_on_moto() -> None:
    done = offline(
        """
        import boto3
        from moto import mock_aws
        from moto.dynamodbstreams.models import dynamodbstreams_backends
        from consentry.provision import provision

        with mock_aws():
            env = provision("app")
            dynamodb, streams = boto3.client("dynamodb"), boto3.client("dynamodbstreams")
            arn = dynamodb.describe_table(TableName=env["CONSENT_TABLE"])["Table"]["LatestStreamArn"]
            shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
            iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON")
            iterator = iterator["ShardIterator"]
            read = []

            def poll(times):
                global iterator
                for _ in range(times):  # as the local runtime polls: on from NextShardIterator
                    got = streams.get_records(ShardIterator=iterator)
                    read.extend(r["dynamodb"]["Keys"]["user_id"]["S"] for r in got["Records"])
                    iterator = got["NextShardIterator"]

            poll(20)
            dynamodb.put_item(TableName=env["CONSENT_TABLE"], Item={"user_id": {"S": "ava"}, "version": {"N": "1"}})
            poll(20)
            dynamodb.put_item(TableName=env["CONSENT_TABLE"], Item={"user_id": {"S": "bo"}, "version": {"N": "1"}})
            poll(20)
            kept = dynamodbstreams_backends["123456789012"]["us-east-1"].shard_iterators
            print(read, len(kept))
        """
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "['ava', 'bo'] 3"

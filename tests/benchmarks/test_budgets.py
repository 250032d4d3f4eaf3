"""The benchmarks' count budgets at small scale, so that CI guards them.

API calls are counted through botocore's event hooks on the handlers' own
clients (benchmarks.calls), on moto in-process. Counts only: nothing here is
timed. The full-size figures, memory and fan-out are `python -m benchmarks`.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import budgets as B  # noqa: E402
from benchmarks import deploy, scenarios  # noqa: E402
from consentry.service.aws.ledger import RANGES  # noqa: E402
from consentry.service.flows.fanout import RETAG_PAGE  # noqa: E402

# Each scenario runs on its own fresh moto, closed before the next one starts.


@pytest.fixture(scope="module")
def tagging() -> scenarios.Tagging:
    with deploy.in_process() as dep:
        return scenarios.tagging(dep, objects=100, users=100)


@pytest.fixture(scope="module")
def retag() -> scenarios.Retag:
    with deploy.in_process() as dep:
        return scenarios.retag(dep, RETAG_PAGE + 100, memory_pages=(), then_unchanged=True)


def sweep_calls(total: int, due: int) -> scenarios.Sweep:
    with deploy.in_process() as dep:
        return scenarios.sweep(dep, total, due)


# -- tagging a batch of 100 new objects (one SQS event) ---------------------------------


def test_tagging_a_new_object_its_writer_did_not_tag_costs_two_s3_calls(tagging: scenarios.Tagging) -> None:
    assert tagging.first.s3 <= B.TAG_S3_CALLS_PER_OBJECT * tagging.objects
    assert tagging.first.s3_writes == tagging.objects  # one PutObjectTagging each
    assert tagging.first.count("s3", "GetObjectTagging") == 0


def test_tagging_a_new_object_with_its_writers_tags_costs_three_s3_calls(tagging: scenarios.Tagging) -> None:
    assert tagging.tagged.s3 <= B.TAG_S3_CALLS_PER_TAGGED_OBJECT * tagging.objects
    assert tagging.tagged.count("s3", "GetObjectTagging") == tagging.objects  # the writer's tags, to keep
    assert tagging.tagged.s3_writes == tagging.objects


def test_tagging_reads_consents_in_batches_not_per_object(tagging: scenarios.Tagging) -> None:
    assert tagging.consent_get_item == 0
    # One BatchGetItem per pass per chunk of notifications settled together (each chunk has at most 100 users).
    limit = B.TAG_READ_PASSES * B.TAG_CONSENT_CALLS_PER_100_USERS_PER_PASS * tagging.consent_batches
    assert tagging.consent_read_calls <= limit


def test_tagging_writes_the_ledger_at_most_once_per_object(tagging: scenarios.Tagging) -> None:
    assert tagging.first.dynamodb_writes(tagging.ledger_table) <= B.TAG_LEDGER_WRITES_PER_OBJECT * tagging.objects


def test_the_same_batch_delivered_again_writes_nothing(tagging: scenarios.Tagging) -> None:
    assert tagging.again.s3_writes == B.REDELIVERY_S3_WRITES
    assert tagging.again.dynamodb_writes() == B.REDELIVERY_LEDGER_WRITES


# -- retagging a user after an opt-out ---------------------------------------------------------


def test_retag_costs_at_most_two_s3_calls_per_chat_whose_tags_change(retag: scenarios.Retag) -> None:
    assert retag.changed == retag.chats
    assert retag.work.s3 <= B.RETAG_S3_CALLS_PER_CHANGED_CHAT * retag.changed


def test_retag_makes_no_s3_call_for_chats_already_right(retag: scenarios.Retag) -> None:
    assert retag.unchanged_chats == retag.chats
    assert retag.unchanged.s3 == B.RETAG_S3_CALLS_PER_UNCHANGED_CHAT * retag.unchanged_chats


def test_retag_reads_the_ledger_one_page_per_work_message(retag: scenarios.Retag) -> None:
    # More than a page: the root reads one page, then each of the 16 hash ranges reads its own (one page each here).
    assert RETAG_PAGE < retag.chats < len(RANGES) * RETAG_PAGE
    assert retag.max_page <= B.RETAG_PAGE_ITEMS
    assert len(retag.runs) == 1 + len(RANGES)
    assert all(run.calls.count("dynamodb", "Query") == 1 for run in retag.runs)


# -- the sweep ----------------------------------------------------------------------------------


def test_sweep_cost_grows_with_due_objects_not_with_the_ledger() -> None:
    small, large = sweep_calls(1000, 50), sweep_calls(5000, 50)
    assert small.removed == large.removed == 50
    assert abs(large.calls.total / small.calls.total - 1) <= B.SWEEP_T_SPREAD
    assert abs(large.calls.rru / small.calls.rru - 1) <= B.SWEEP_T_SPREAD


def test_a_due_object_costs_two_dynamodb_writes_and_two_items_read() -> None:
    """What one more due object adds to a sweep: claim + tombstone, its index entry + its share of the check."""
    few, many = sweep_calls(400, 32), sweep_calls(400, 160)  # 2 and 10 per shard: pages share their reads
    extra = many.due - few.due
    assert (many.calls.dynamodb - few.calls.dynamodb) / extra <= B.SWEEP_DYNAMODB_CALLS_PER_DUE
    assert (many.calls.items_read - few.calls.items_read) / extra <= B.SWEEP_ITEMS_READ_PER_DUE
    assert many.calls.count("dynamodb", "GetItem") == few.calls.count("dynamodb", "GetItem")  # work records only

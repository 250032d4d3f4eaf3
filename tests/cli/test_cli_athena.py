"""`snapshot`, `snapshot verify` and `report` through Athena's request path, on an in-process moto server.

moto accepts Athena's statements and runs none (docs/parity.md): what is held here is what the CLI asks
(the export's partition, the UNLOADs, the manifest's partition, the verify and report statements), in
the stack's workgroup, and that it reads the results back (moto hands queued results to executions in
the order they start).
"""

from __future__ import annotations

import json
from collections.abc import Callable

from clirun import Result, local
from moto.athena.models import QueryResults, athena_backends

from consentry.local import LocalRuntime
from support import set_consent, t

WORKGROUP = "consentry-training"


def statements(since: int) -> list[tuple[str, str]]:
    """(workgroup, query) of the Athena executions started since the `since`-th."""
    backend = athena_backends["123456789012"]["us-east-1"]
    return [(e.workgroup.name if e.workgroup else "", e.query) for e in list(backend.executions.values())[since:]]


def test_snapshot_verify_and_report_run_through_athena(server: LocalRuntime, cli: Callable[..., Result]) -> None:
    set_consent(server, "ana", "granted", t("2025-09-01"))
    server.put_chat("chats/ana/c1.json", at=t("2025-10-01"))
    server.settle()
    backend = athena_backends["123456789012"]["us-east-1"]
    header = {"Data": [{"VarCharValue": "_col0"}]}
    backend.query_results_queue.extend([QueryResults([], [])] * 4)  # two partitions, two UNLOADs
    backend.query_results_queue.append(QueryResults([header, {"Data": [{"VarCharValue": "1"}]}], []))
    out = "s3://test-training-123456789012-us-east-1/manifests/run-1/"
    first = len(backend.executions)

    taken = cli(*local(server), "snapshot", "--engine", "athena", "--out", out, "--json")

    assert taken.code == 0, taken.err
    data = json.loads(taken.out)
    assert (data["entries"], data["csv"], data["parquet"]) == (1, f"{out}csv/", f"{out}parquet/")
    sent = statements(first)
    assert {workgroup for workgroup, _ in sent} == {WORKGROUP}
    export = data["export"]["location"].rstrip("/")
    assert sent[0][1].startswith("ALTER TABLE consentry_training.ledger_exports ADD IF NOT EXISTS PARTITION")
    assert f"LOCATION '{export}/AWSDynamoDB/" in sent[0][1]
    assert sent[1][1].startswith("UNLOAD (WITH ledger AS") and sent[1][1].endswith("WITH (format = 'PARQUET')")
    text = "WITH (format = 'TEXTFILE', field_delimiter = ',', compression = 'NONE')"
    assert sent[3][1].endswith(f"TO '{out}csv/' {text}")

    row = ["chat-logs", "chats/ana/c1.json", "v-old", "1", "consumer-terms-2025@1", "2030-10-01", "version-changed",
           "ana", "2025-10-01T00:00:00.000000Z"]  # fmt: skip
    backend.query_results_queue.extend([QueryResults([], [])] * 2)  # the export's and the manifest's partitions
    backend.query_results_queue.append(
        QueryResults([{"Data": [{"VarCharValue": "h"}] * 9}, {"Data": [{"VarCharValue": v} for v in row]}], [])
    )
    before = len(backend.executions)
    verified = cli(*local(server), "snapshot", "verify", out, "--engine", "athena", "--json")

    assert verified.code == 3, verified.err
    found = json.loads(verified.out)
    assert (found["checked"], found["by_reason"]) == (1, {"version-changed": 1})
    sent = statements(before)
    assert f"LOCATION '{out}parquet/'" in sent[1][1]
    assert "consentry_training.manifests WHERE snapshot = 'm-" in sent[2][1]

    before = len(backend.executions)
    reported = cli(*local(server), "report", "--engine", "athena", "--json")
    assert reported.code == 0, reported.err
    assert "GROUPING SETS" in statements(before)[-1][1]

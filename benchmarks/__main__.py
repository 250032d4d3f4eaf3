"""`python -m benchmarks`: every budget of issue 7, measured in one run, as a table.

Options: `--quick` (smaller N, fewer import rounds: a smoke run, not the
budgets' sizes); `--training-1m` (the training side at 1M records too, and
its old path at 100k: the training budgets). Exit status 1 when a budget fails. What the handlers print
(Powertools' EMF metrics) goes to .bench/handlers.log.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import math
import sys
import time
import warnings
from typing import Any

from benchmarks.deploy import ROOT, prepare_environment

prepare_environment()

from benchmarks import budgets as B  # noqa: E402
from benchmarks import costs, deploy, fanout, imports, naive, scenarios, training  # noqa: E402
from benchmarks.calls import Tally, item_size  # noqa: E402
from benchmarks.report import Row, mb, money, section, table  # noqa: E402
from consentry.aws.ledger import RANGES  # noqa: E402
from consentry.flows.fanout import RETAG_PAGE  # noqa: E402

MILLION = 1_000_000


def measure(quick: bool, training_1m: bool = False) -> dict[str, Any]:
    sizes = (1000, 2000, 5000) if quick else (1000, 10_000, 100_000)
    sweep_sizes = (1000, 5000) if quick else (1000, 100_000)
    m: dict[str, Any] = {"sizes": sizes, "sweep_sizes": sweep_sizes}
    timings: dict[str, float] = {}

    def step(name: str) -> Any:
        timings[name] = time.perf_counter()
        print(f"  {name} ...", file=sys.stderr, flush=True)

    step("tagging (in-process moto)")
    with deploy.in_process() as dep:
        m["tag"] = scenarios.tagging(dep)
    step("tagging (moto server)")
    with deploy.moto_server() as dep:
        m["tag_server"] = scenarios.tagging(dep)
    m["retag"] = {}
    for n in sizes:
        step(f"retag N={n} (moto server)")
        with deploy.moto_server() as dep:
            if n == sizes[0]:
                m["retag"][n] = scenarios.retag(dep, n, then_unchanged=True)
            else:
                pages_in_range = math.ceil(n / len(RANGES) / RETAG_PAGE)
                m["retag"][n] = scenarios.retag(dep, n, sample=("7", (pages_in_range - 1) // 2))
    m["sweep"] = {}
    for t in sweep_sizes:
        step(f"sweep T={t} (in-process moto)")
        with deploy.in_process() as dep:
            m["sweep"][t] = scenarios.sweep(dep, t, 200)
    step("naive nightly pass (in-process moto)")
    with deploy.in_process() as dep:
        m["naive"] = naive.naive_night(dep, 1000, 100)
    step("handler imports vs boto3")
    m["imports"] = imports.measure(3 if quick else 7)
    m["import_layers"] = imports.decompose(3 if quick else 5)
    m["import_own"] = imports.own_modules()
    step("training: snapshot, verify, report (old path vs new)")
    if quick:
        m["training"] = training.measure((1000, 10_000), old_sizes=(1000,))
    elif training_1m:
        m["training"] = training.measure((*training.SIZES, training.LARGE), old_sizes=training.OLD_SIZES_FULL)
    else:
        m["training"] = training.measure(training.SIZES)
    timings["end"] = time.perf_counter()
    m["timings"] = {a: timings[b] - timings[a] for a, b in itertools.pairwise(timings)}
    return m


def per(value: float, n: float) -> str:
    return f"{value / n:.2f}"


def rows_and_notes(m: dict[str, Any]) -> tuple[list[Row], list[str]]:
    tag: scenarios.Tagging = m["tag"]
    server: scenarios.Tagging = m["tag_server"]
    retags: dict[int, scenarios.Retag] = m["retag"]
    sweeps: dict[int, scenarios.Sweep] = m["sweep"]
    imp: imports.ImportCost = m["imports"]
    small, *_, large = m["sizes"]
    rows: list[Row] = []
    notes: list[str] = []

    # -- tagging ---------------------------------------------------------------------------
    s3_per = tag.first.s3 / tag.objects
    rows.append(
        Row(
            f"tag a batch of {tag.objects} new objects: S3 calls per object",
            f"<= {B.TAG_S3_CALLS_PER_OBJECT}",
            f"{s3_per:.2f}",
            s3_per <= B.TAG_S3_CALLS_PER_OBJECT,
        )
    )
    passes = tag.consent_read_calls / tag.consent_batches
    rows.append(
        Row(
            f"  consent reads ({tag.users} users): BatchGetItem per <=100 users",
            f"<= {B.TAG_CONSENT_CALLS_PER_100_USERS_PER_PASS} per pass, 0 per object",
            f"{tag.consent_read_calls} calls = {passes:.0f} passes (decide + verify), {tag.consent_get_item} GetItem",
            tag.consent_get_item == 0 and passes <= B.TAG_READ_PASSES * B.TAG_CONSENT_CALLS_PER_100_USERS_PER_PASS,
        )
    )
    lw = tag.first.dynamodb_writes(tag.ledger_table) / tag.objects
    rows.append(
        Row(
            "  ledger writes per object",
            f"<= {B.TAG_LEDGER_WRITES_PER_OBJECT}",
            f"{lw:.2f}",
            lw <= B.TAG_LEDGER_WRITES_PER_OBJECT,
        )
    )
    rows.append(
        Row(
            "same batch delivered again: S3 writes",
            "0",
            str(tag.again.s3_writes),
            tag.again.s3_writes == B.REDELIVERY_S3_WRITES,
        )
    )
    again_lw = tag.again.dynamodb_writes(tag.ledger_table)
    rows.append(Row("  ledger writes", "0", str(again_lw), again_lw == B.REDELIVERY_LEDGER_WRITES))
    same = tag.first.ops() == server.first.ops() and tag.again.ops() == server.again.ops()
    rows.append(Row("  counts in-process moto == threaded moto server", "equal", "equal" if same else "differ", same))

    # -- retag ---------------------------------------------------------------------------------
    per_changed = {n: r.work.s3 / r.changed for n, r in retags.items()}
    worst = max(per_changed.values())
    rows.append(
        Row(
            "retag after opt-out: S3 calls per chat whose tags change",
            f"<= {B.RETAG_S3_CALLS_PER_CHANGED_CHAT}",
            " / ".join(f"{v:.2f}" for v in per_changed.values()) + f" (N={'/'.join(_k(n) for n in retags)})",
            worst <= B.RETAG_S3_CALLS_PER_CHANGED_CHAT,
        )
    )
    r1 = retags[small]
    rows.append(
        Row(
            f"  S3 calls for chats already right (N={_k(small)}, tier change)",
            "0",
            f"{r1.unchanged.s3}",
            r1.unchanged.s3 == B.RETAG_S3_CALLS_PER_UNCHANGED_CHAT,
        )
    )
    paged = all(r.max_page <= B.RETAG_PAGE_ITEMS for r in retags.values())
    expected = math.ceil(small / RETAG_PAGE)
    sampled_ok = all(r.query_calls == len(r.runs) for n, r in retags.items() if n != small)
    rows.append(
        Row(
            "  ledger read in pages",
            f"1 Query per page of <= {B.RETAG_PAGE_ITEMS}",
            f"N={_k(small)}: {r1.query_calls} Query (pages {expected}), max {r1.max_page} items/Query",
            paged and r1.query_calls <= expected + 1 and sampled_ok,
        )
    )
    peaks = {n: r.peak_bytes for n, r in retags.items()}
    spread = max(peaks.values()) / min(peaks.values())
    rows.append(
        Row(
            "  peak memory of one work message, flat in N",
            f"max/min <= {B.RETAG_MEMORY_SPREAD}",
            " / ".join(mb(v) for v in peaks.values()) + f" -> {spread:.2f}",
            spread <= B.RETAG_MEMORY_SPREAD,
        )
    )

    # -- sweep -----------------------------------------------------------------------------------
    t_small, t_large = sorted(sweeps)
    a, b = sweeps[t_small], sweeps[t_large]
    ratio = b.calls.total / a.calls.total
    rru_ratio = b.calls.rru / a.calls.rru
    rows.append(
        Row(
            f"sweep D={a.due}: calls at T={_k(t_large)} vs T={_k(t_small)}",
            f"within {B.SWEEP_T_SPREAD:.0%}",
            f"{b.calls.total} vs {a.calls.total} calls = {ratio:.3f} (RRU {rru_ratio:.3f})",
            abs(ratio - 1) <= B.SWEEP_T_SPREAD and abs(rru_ratio - 1) <= B.SWEEP_T_SPREAD,
        )
    )

    # -- imports -----------------------------------------------------------------------------------
    name, worst_ratio = imp.worst
    rows.append(
        Row(
            "handler import vs `import boto3`: installed package, .pyc cached (worst handler)",
            f"<= {B.IMPORT_VS_BOTO3}x",
            f"{worst_ratio:.2f}x ({name}; median of {len(imp.boto3)} paired runs, CPU time; "
            f"fastest/fastest {imp.min_ratio(name):.2f}x)",
            worst_ratio <= B.IMPORT_VS_BOTO3,
        )
    )
    rows.append(
        Row(
            "  cold start as the layer ships today (sources only: compiled on every cold start)",
            f"<= {B.IMPORT_VS_BOTO3}x",
            f"{imp.as_shipped_ratio:.2f}x (tag_on_write)",
            imp.as_shipped_ratio <= B.IMPORT_VS_BOTO3,
        )
    )
    rows.append(
        Row(
            "  same layer with .pyc compiled at build (proposed infra/layer.py change)",
            "report",
            f"{imp.compiled_ratio:.2f}x (tag_on_write)",
            None,
        )
    )

    # -- fan-out -------------------------------------------------------------------------------------
    rl = retags[large]
    full_run = rl.full_page
    full = fanout.Profile(full_run.enqueue_at or full_run.calls.total, full_run.calls.total)
    last_run = r1.runs[-1]
    last = fanout.Profile(last_run.calls.total, last_run.calls.total, sends=0)
    fan_n = 100_000
    fo = fanout.fan_out(fan_n, RETAG_PAGE, full, last, B.FANOUT_WORKERS, B.FANOUT_HOP)
    rows.append(
        Row(
            f"fan-out: retag of a {_k(fan_n)}-chat user, W={B.FANOUT_WORKERS} workers vs one loop",
            f">= {B.FANOUT_MIN_SPEEDUP:.0f}x (critical path in calls)",
            f"{fo.speedup:.1f}x ({fo.pages} generations; {fo.sequential} vs {fo.parallel} call-units)",
            fo.speedup >= B.FANOUT_MIN_SPEEDUP,
        )
    )
    fan_lines = [
        f"message profile (measured, N={_k(large)}): {full.enqueue_at} calls before the successor is enqueued, "
        f"{full.total} in all; last page {last.total}; hop = SQS -> next invocation in call-units"
    ]
    fan_lines.append("workers   " + "  ".join(f"hop={h:<3}" for h in (0, 5, 20)))
    for w in (1, 10, 100, 1000):
        cells = [f"{fanout.fan_out(fan_n, RETAG_PAGE, full, last, w, h).speedup:7.1f}x" for h in (0, 5, 20)]
        fan_lines.append(f"W={w:<7} " + "  ".join(cells))
    fan_lines.append(
        f"ceiling: a chain of {fo.pages} generations; speedup <= {full.total}/({full.enqueue_at}+hop) "
        f"whatever W (= {full.total / full.enqueue_at:.0f}x at hop 0, "
        f"{full.total / (full.enqueue_at + 20):.0f}x at hop 20)"
    )
    notes.append(section("Fan-out: speedup of W workers over one loop (100k chats, 200 pages)", fan_lines))

    # -- naive vs consentry per day ---------------------------------------------------------------------
    day = per_day(m)
    rows.append(
        Row(
            "calls per day, 1M objects, 1% daily change: consentry / naive",
            "report",
            f"{day['ratio_calls']:.4f} (naive {day['naive_calls']:,.0f}, consentry {day['writes_calls']:,.0f}); "
            f"$ {day['ratio_dollars']:.4f}",
            None,
        )
    )
    notes.append(
        section("Naive nightly full pass vs consentry, per day (1M objects, 1% = 10,000 changed per day)", day["lines"])
    )
    rows.extend(training.rows(m["training"]))
    notes.append(section("Training side: snapshot, verify, report (docs/cost.md)", training.lines(m["training"])))
    notes.append(section("Cost model (us-east-1 list prices; docs/cost.md)", cost_lines(m)))
    notes.append(section("At 1B objects (assumptions stated; docs/cost.md)", scale_lines(m)))
    notes.append(section("Measured calls by operation", op_lines(m)))
    layers = m["import_layers"]
    base = layers[0][1]
    own = ", ".join(f"{name} {us / 1000:.1f}" for name, us in m["import_own"][:9])
    notes.append(
        section(
            "Handler import, CPU time (median; each layer imported after those above it)",
            [f"{label:<34} {t * 1000:6.1f} ms  {t / base:5.2f}x boto3" for label, t in layers]
            + [
                f"consentry modules, self time in ms (fastest of 3, -X importtime): {own}",
                f"median import, CPU: boto3 {_median(imp.boto3) * 1000:.0f} ms; "
                + ", ".join(f"{k} {_median(v) * 1000:.0f} ms" for k, v in imp.handlers.items()),
            ],
        )
    )
    return rows, notes


def _median(values: list[float]) -> float:
    import statistics

    return statistics.median(values)


def _k(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else str(n)


def per_day(m: dict[str, Any]) -> dict[str, Any]:
    tag: scenarios.Tagging = m["tag"]
    retags: dict[int, scenarios.Retag] = m["retag"]
    sweeps: dict[int, scenarios.Sweep] = m["sweep"]
    nv: naive.Naive = m["naive"]
    small = m["sizes"][0]
    objects, changed = MILLION, MILLION // 100
    sweep = sweeps[min(sweeps)]
    due_scale = changed / sweep.due  # steady state: as many objects expire as are written
    r1 = retags[small]
    retag_calls = r1.work + r1.stream

    naive_calls = nv.calls.total / nv.objects * objects
    writes_calls = tag.first.total / tag.objects * changed + sweep.calls.total * due_scale
    optout_calls = retag_calls.total / r1.changed * changed + sweep.calls.total * due_scale
    naive_bill = costs.bill(nv.calls, objects / nv.objects, invocations=objects / 1000, memory_mb=1024)
    sweep_messages = 16 * math.ceil(changed / 16 / 100)  # one work message per shard page of 100
    sweep_bill = costs.bill(
        sweep.calls, due_scale, consumed=sweep_messages, invocations=1 + sweep_messages, memory_mb=1024
    )
    writes_bill = (
        costs.bill(
            tag.first, changed / tag.objects, notifications=changed, consumed=changed, invocations=changed / tag.objects
        )
        + sweep_bill
    )
    optout_bill = (
        costs.bill(
            retag_calls,
            changed / r1.changed,
            consumed=changed / RETAG_PAGE,
            invocations=changed / RETAG_PAGE,
            memory_mb=1024,
        )
        + sweep_bill
    )
    lines = [
        f"naive: {per(nv.calls.total, nv.objects)} calls per object per night "
        f"(S3 {per(nv.calls.s3, nv.objects)}: HEAD + GET tags + PUT tags + LIST/1000; "
        f"DynamoDB {nv.calls.dynamodb / nv.objects:.3f}: consent BatchGetItem per 100 users of a page), "
        f"measured on {nv.objects} objects of {nv.users} users",
        f"consentry, 1% change as new writes: {per(tag.first.total, tag.objects)} calls per write "
        f"+ {per(sweep.calls.total, sweep.due)} per expired object swept",
        f"consentry, 1% change as opt-out retags: {per(retag_calls.total, r1.changed)} calls per retagged chat "
        f"+ {per(sweep.calls.total, sweep.due)} per expired object swept",
        "",
        f"{'per day':<34}{'calls':>14}{'S3 PUT-class':>14}{'S3 GET-class':>14}{'dollars':>12}",
        f"{'naive nightly pass':<34}{naive_calls:>14,.0f}{nv.calls.s3_put_class / nv.objects * objects:>14,.0f}"
        f"{nv.calls.s3_get_class / nv.objects * objects:>14,.0f}{money(naive_bill.total):>12}",
        f"{'consentry (writes + sweep)':<34}{writes_calls:>14,.0f}"
        f"{tag.first.s3_put_class / tag.objects * changed + sweep.calls.s3_put_class * due_scale:>14,.0f}"
        f"{tag.first.s3_get_class / tag.objects * changed + sweep.calls.s3_get_class * due_scale:>14,.0f}"
        f"{money(writes_bill.total):>12}",
        f"{'consentry (opt-out retags + sweep)':<34}{optout_calls:>14,.0f}"
        f"{retag_calls.s3_put_class / r1.changed * changed + sweep.calls.s3_put_class * due_scale:>14,.0f}"
        f"{retag_calls.s3_get_class / r1.changed * changed + sweep.calls.s3_get_class * due_scale:>14,.0f}"
        f"{money(optout_bill.total):>12}",
        f"consentry / naive: calls {writes_calls / naive_calls:.4f} (writes) and "
        f"{optout_calls / naive_calls:.4f} (opt-outs); "
        f"dollars {writes_bill.total / naive_bill.total:.4f} and {optout_bill.total / naive_bill.total:.4f}",
        "(naive dollars include its Lambda time for 1M objects at the same per-call latencies; "
        "consentry's include the S3 -> SQS notifications and Lambda's polling)",
    ]
    return {
        "naive_calls": naive_calls,
        "writes_calls": writes_calls,
        "ratio_calls": writes_calls / naive_calls,
        "ratio_dollars": writes_bill.total / naive_bill.total,
        "lines": lines,
    }


def cost_lines(m: dict[str, Any]) -> list[str]:
    tag: scenarios.Tagging = m["tag"]
    retags: dict[int, scenarios.Retag] = m["retag"]
    r1 = retags[m["sizes"][0]]
    lines = []
    scale = MILLION / tag.objects
    per_million = costs.bill(tag.first, scale, notifications=MILLION, consumed=MILLION, invocations=scale)
    lines.append(
        f"per million chat writes (batches of {tag.objects}): S3 {money(per_million.s3)}, "
        f"DynamoDB {money(per_million.dynamodb)} "
        f"({tag.first.wru / tag.objects:.1f} WRU + {tag.first.rru / tag.objects:.1f} RRU per write), "
        f"SQS {money(per_million.sqs)}, Lambda {money(per_million.lambda_)} = {money(per_million.total)}"
    )
    chats = 10_000
    pages = math.ceil(chats / RETAG_PAGE)
    page = r1.runs[0].calls  # a full page of the measured chain
    per_page = costs.bill(page, pages, consumed=pages, invocations=pages, memory_mb=1024)
    stream = costs.bill(r1.stream, 1, invocations=1, memory_mb=256)
    optout = per_page + stream
    lines.append(
        f"per opt-out of a {chats // 1000}k-chat user ({pages} pages of {RETAG_PAGE}): S3 {money(optout.s3)}, "
        f"DynamoDB {money(optout.dynamodb)} "
        f"({page.wru / RETAG_PAGE:.1f} WRU + {page.rru / RETAG_PAGE:.2f} RRU per chat), "
        f"SQS {money(optout.sqs)}, Lambda {money(optout.lambda_)} = {money(optout.total)}"
    )
    sized = realistic_item()
    lines.append(
        f"ledger item of a chat (one history entry, 20-char user id, UUID chat id): {item_size(sized)} bytes; "
        f"the history keeps up to 20 entries (~130 bytes each)"
    )
    unchanged = r1.unchanged
    lines.append(
        f"a retag that changes no tag (tier change, N={r1.chats}): {unchanged.s3} S3 calls, "
        f"{unchanged.dynamodb_writes()} ledger writes ({unchanged.wru / max(1, r1.chats):.1f} WRU per chat: "
        f"consent version and tier recorded on every record)"
    )
    units = unit_bills(m)
    lines.append("per million events: " + ", ".join(f"{k} {money(b.total)}" for k, b in units.items()))
    return lines


def realistic_item(entries: int = 1) -> dict[str, Any]:
    """A ledger item with a 20-character user id, a UUID chat id, a version id and `entries` history entries."""
    template, _ = scenarios.record_template("granted")
    user = "0123456789abcdef0123"
    key = f"chats/{user}/01234567-89ab-cdef-0123-456789abcdef.json"
    return {
        **template,
        "pk": {"S": f"user#{user}"},
        "sk": {"S": f"chat#{key}"},
        "key": {"S": key},
        "user_id": {"S": user},
        "version_id": {"S": "x" * 32},
        "due_shard": {"S": "00"},
        "history": {"L": template["history"]["L"] * entries},
    }


def unit_bills(m: dict[str, Any]) -> dict[str, costs.Bill]:
    """Dollars per million events of each kind, from the measured tallies."""
    tag: scenarios.Tagging = m["tag"]
    r1: scenarios.Retag = m["retag"][m["sizes"][0]]
    sweep: scenarios.Sweep = m["sweep"][min(m["sweep"])]
    page = r1.runs[0].calls
    return {
        "write": costs.bill(
            tag.first, MILLION / tag.objects, notifications=MILLION, consumed=MILLION, invocations=MILLION / tag.objects
        ),
        "retagged chat": costs.bill(
            page, MILLION / RETAG_PAGE, consumed=MILLION / RETAG_PAGE, invocations=MILLION / RETAG_PAGE, memory_mb=1024
        ),
        "swept object": costs.bill(
            sweep.calls, MILLION / sweep.due, consumed=MILLION / 100, invocations=MILLION / 100, memory_mb=1024
        ),
    }


def scale_lines(m: dict[str, Any]) -> list[str]:
    tag: scenarios.Tagging = m["tag"]
    units = unit_bills(m)
    objects, writes, swept, retagged = 10**9, 10**7, 10**7, 10**6
    day = {"write": writes, "swept object": swept, "retagged chat": retagged}
    lines = ["assumed day: 1B objects stored, 10M chat writes (1%), 10M objects expiring, 1M chats retagged"]
    total = 0.0
    for kind, count in day.items():
        dollars = units[kind].total * count / MILLION
        total += dollars
        lines.append(
            f"  {kind:<14} {money(units[kind].total)} per million x {count / MILLION:,.0f}M = {money(dollars)}/day "
            f"(S3 {money(units[kind].s3)}, DynamoDB {money(units[kind].dynamodb)}, "
            f"SQS {money(units[kind].sqs)}, Lambda {money(units[kind].lambda_)} per million)"
        )
    lines.append(f"  requests total {money(total)}/day, {money(total * 30)}/month")
    for label, entries in (("one history entry", 1), ("20 history entries", 20)):
        size = item_size(realistic_item(entries))
        gb = objects * size * 2 / 1e9  # base table + `due` index (projection ALL)
        lines.append(
            f"  ledger storage, {label} (~{size} B/item, table + due index): {gb:,.0f} GB = "
            f"{money(gb * costs.DYNAMODB_STORAGE_GB_MONTH)}/month"
        )
    rate = writes / 86_400
    lines.append(
        f"  S3 request rate from tagging: {rate:,.0f} writes/s on average -> {rate:,.0f} PUT + {2 * rate:,.0f} "
        f"GET/HEAD per second over all user prefixes (S3: 3,500 PUT and 5,500 GET per second per prefix)"
    )
    gsi_per_object = tag.first.gsi_wru / tag.objects
    backfill = costs.bill(tag.first, objects / tag.objects, invocations=objects, memory_mb=512)
    batch_ops = costs.S3_BATCH_OPERATIONS_JOB + costs.S3_BATCH_OPERATIONS_PER_MILLION * objects / MILLION
    inventory = costs.S3_INVENTORY_PER_MILLION * objects / MILLION
    hours = objects * gsi_per_object / (16 * 1000) / 3600
    lines.append(
        f"  backfill of 1B objects (S3 Batch Operations, one object per Lambda task): requests "
        f"{money(backfill.total)} + Batch Operations {money(batch_ops)} + inventory manifest {money(inventory)}"
        f" = {money(backfill.total + batch_ops + inventory)}; at least {hours:.0f} h: the due index takes "
        f"{gsi_per_object:.0f} WRU per object on 16 shard keys of 1,000 WCU/s each"
    )
    naive_night = m["naive"].calls.total / m["naive"].objects * objects
    lines.append(
        f"  naive at 1B: {naive_night / 1e9:.1f}B requests per night "
        f"({naive_night / 8 / 3600:,.0f} per second over an 8-hour window)"
    )
    return lines


def op_lines(m: dict[str, Any]) -> list[str]:
    tag: scenarios.Tagging = m["tag"]
    lines = [f"tag batch of {tag.objects}: {_ops(tag.first)}", f"redelivery: {_ops(tag.again)}"]
    for n, r in m["retag"].items():
        kind = "all pages" if r.full else f"sampled page(s) {[i for i in range(len(r.runs))]} of the chain"
        lines.append(f"retag N={n} ({kind}, {r.changed} chats changed): {_ops(r.work)}")
    r1 = m["retag"][m["sizes"][0]]
    lines.append(f"retag N={r1.chats}, nothing to change: {_ops(r1.unchanged)}")
    for t, s in m["sweep"].items():
        lines.append(f"sweep T={t} D={s.due}: {_ops(s.calls)}")
    lines.append(f"naive night over {m['naive'].objects}: {_ops(m['naive'].calls)}")
    lines.append("timings (s): " + ", ".join(f"{k}: {v:.0f}" for k, v in m["timings"].items()))
    return lines


def _ops(tally: Tally) -> str:
    return ", ".join(f"{op} {n}" for op, n in sorted(tally.ops().items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes: a smoke run, not the budgets")
    parser.add_argument(
        "--training-1m", action="store_true", help="the training side at 1M records too (its budgets; ~10 min more)"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    log = ROOT / ".bench"
    log.mkdir(exist_ok=True)
    print("consentry cost benchmarks (moto; API calls counted through botocore event hooks)", file=sys.stderr)
    with open(log / "handlers.log", "w") as out, contextlib.redirect_stdout(out):
        measured = measure(args.quick, args.training_1m)
    rows, notes = rows_and_notes(measured)
    print(table(rows))
    for note in notes:
        print(note)
    print(
        f"\nrun time: {time.perf_counter() - started:.0f} s"
        + (" (--quick: not the budgets' sizes)" if args.quick else "")
    )
    return 0 if all(r.passed is not False for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())

"""`python -m benchmarks`: every cost budget, measured in one run, as a table.

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
from benchmarks import costs, deploy, imports, latency, naive, scenarios, training  # noqa: E402
from benchmarks.calls import Tally, item_size  # noqa: E402
from benchmarks.report import Row, mb, money, section, table  # noqa: E402
from consentry.service.aws.ledger import RANGES  # noqa: E402
from consentry.service.flows.fanout import RETAG_PAGE  # noqa: E402

MILLION = 1_000_000


def measure(quick: bool, training_1m: bool = False, skip_training: bool = False) -> dict[str, Any]:
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
    dense = B.SWEEP_DENSE_DUE
    step(f"sweep T={sweep_sizes[0]} D={dense} (in-process moto)")
    with deploy.in_process() as dep:
        m["sweep_dense"] = scenarios.sweep(dep, max(sweep_sizes[0], 2 * dense), dense)
    step(f"erasure of {B.ERASURE_MEASURED} chats (in-process moto)")
    with deploy.in_process() as dep:
        m["erasure"] = scenarios.erasure(dep, B.ERASURE_MEASURED)
    step("naive nightly pass (in-process moto)")
    with deploy.in_process() as dep:
        m["naive"] = naive.naive_night(dep, 1000, 100)
    step("handler imports vs boto3")
    m["imports"] = imports.measure(3 if quick else 7)
    m["import_layers"] = imports.decompose(3 if quick else 5)
    m["import_own"] = imports.own_modules()
    step("training: snapshot, verify, report (old path vs new)")
    if skip_training:
        m["training"] = None
    elif quick:
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
    small = m["sizes"][0]
    rows: list[Row] = []
    notes: list[str] = []

    # -- tagging ---------------------------------------------------------------------------
    s3_per = tag.first.s3 / tag.objects
    rows.append(
        Row(
            f"tag a batch of {tag.objects} new objects: S3 calls per object (writer put no tags)",
            f"<= {B.TAG_S3_CALLS_PER_OBJECT}",
            f"{s3_per:.2f} ({_ops(Tally([c for c in tag.first.calls if c.service == 's3']))})",
            s3_per <= B.TAG_S3_CALLS_PER_OBJECT,
        )
    )
    tagged_per = tag.tagged.s3 / tag.objects
    rows.append(
        Row(
            "  the same with the writer's tags (read and kept)",
            f"<= {B.TAG_S3_CALLS_PER_TAGGED_OBJECT}",
            f"{tagged_per:.2f} ({_ops(Tally([c for c in tag.tagged.calls if c.service == 's3']))})",
            tagged_per <= B.TAG_S3_CALLS_PER_TAGGED_OBJECT,
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
    # A user of more than one page: the root reads a page and fans out to the 16 hash ranges, each read in
    # pages of its own; every work message reads one page, with one Query.
    paged = all(r.max_page <= B.RETAG_PAGE_ITEMS for r in retags.values())
    one_each = all(r.query_calls == len(r.runs) for r in retags.values())
    rows.append(
        Row(
            "  ledger read in pages",
            f"1 Query per page of <= {B.RETAG_PAGE_ITEMS}",
            f"N={_k(small)}: {r1.query_calls} Query in {len(r1.runs)} messages (root + {len(RANGES)} hash ranges), "
            f"max {r1.max_page} items/Query",
            paged and one_each,
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

    dense: scenarios.Sweep = m["sweep_dense"]
    per_due = marginal_sweep(a, dense)
    rows.append(
        Row(
            f"sweep: DynamoDB calls per due object (added from D={a.due} to D={dense.due})",
            f"<= {B.SWEEP_DYNAMODB_CALLS_PER_DUE}",
            f"{per_due['dynamodb']:.2f} (claim + tombstone, page reads shared; {per_due['fixed']:.0f} calls per night "
            f"besides: {per_due['fixed_what']})",
            per_due["dynamodb"] <= B.SWEEP_DYNAMODB_CALLS_PER_DUE,
        )
    )
    rows.append(
        Row(
            "  items read per due object (index entry + one batched check)",
            f"<= {B.SWEEP_ITEMS_READ_PER_DUE}",
            f"{per_due['items']:.2f} ({dense.calls.items_read} items for D={dense.due}; "
            f"{dense.calls.rru / dense.due:.2f} RRU per due object)",
            per_due["items"] <= B.SWEEP_ITEMS_READ_PER_DUE,
        )
    )
    rows.append(
        Row(
            "  S3 calls per swept chat (list, delete marker, share of DeleteObjects)",
            "report",
            f"{per_due['s3']:.2f} ({_ops(Tally([c for c in dense.calls.calls if c.service == 's3']))})",
            None,
        )
    )

    # -- imports -----------------------------------------------------------------------------------
    name, worst_ratio = imp.worst
    measured = (
        f"{worst_ratio:.2f}x ({name}; median of {len(imp.boto3)} paired runs, CPU time; "
        f"fastest/fastest {imp.min_ratio(name):.2f}x)"
    )
    if not imp.bytecode:
        measured = f"NO BYTECODE: the layer ships no .pyc for consentry (every cold start compiles it); {measured}"
    rows.append(
        Row(
            f"handler import vs `import boto3`, as the layer ships ({imp.interpreter}, bytecode; worst handler)",
            f"<= {B.IMPORT_VS_BOTO3}x, with bytecode",
            measured,
            worst_ratio <= B.IMPORT_VS_BOTO3 and imp.bytecode > 0,
        )
    )
    rows.append(
        Row(
            "  the same layer without bytecode (no CPython of the runtime's version at bundling)",
            "report",
            f"{imp.sources_ratio:.2f}x (tag_on_write: every module compiled on each cold start)",
            None,
        )
    )

    # -- opt-out and erasure latency (virtual clock) -------------------------------------------------
    lat = latency_runs(m)
    for label, key, budget in (
        ("opt-out of a 10k-chat user: last chat retagged", "optout_10k", B.OPTOUT_10K_SECONDS),
        ("erasure of a 10k-chat user: last chat removed", "erasure_10k", B.ERASURE_10K_SECONDS),
    ):
        o = lat[key]
        rows.append(
            Row(
                f"{label} (simulated on AWS's figures)",
                f"<= {budget:.0f} s",
                f"{o.last_chat_at:.1f} s (floor {lat[key + '_floor']:.0f} s: one partition's WCU; "
                f"{sum(o.throttled.values())} throttled calls retried, {o.failed_pages} pages lost)",
                o.last_chat_at <= budget and o.failed_pages == 0,
            )
        )
    o = lat["optout_100k"]
    rows.append(
        Row(
            "opt-out of a 100k-chat user: last chat retagged (simulated)",
            "report",
            f"{o.last_chat_at:.0f} s (floor {lat['optout_100k_floor']:.0f} s: one partition's WCU)",
            None,
        )
    )
    notes.append(section("Opt-out and erasure latency on AWS (discrete-event simulation; docs/cost.md)", lat["lines"]))

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
    if m["training"] is not None:
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


def latency_runs(m: dict[str, Any]) -> dict[str, Any]:
    """The simulated runs, after checking the model's calls against the pages the handlers ran on moto."""
    import dataclasses

    retags: dict[int, scenarios.Retag] = m["retag"]
    small = retags[m["sizes"][0]]
    erased: scenarios.Erasure = m["erasure"]
    aws = latency.Aws()
    checked = 0
    for run in [*small.runs, *(r for n, r in retags.items() if n != m["sizes"][0] for r in r.runs)]:
        n = sum(c.items for c in run.calls.calls if c.op == "Query")
        fans_out = "range" not in run.body and n == RETAG_PAGE and not run.calls.count("s3")
        sends = run.calls.count("sqs", "SendMessageBatch") > 0
        page = latency.retag_page(aws, latency.Shape(), n, root_fans_out=fans_out, following=sends and not fans_out)
        latency.check_against(page, run.calls.ops(), f"retag message {run.body.get('range', 'root')} ({n} chats)")
        checked += 1
    for run in erased.runs:
        body = run.body
        if body.get("part") == "s3":
            last = run.calls.count("dynamodb", "UpdateItem") > 0  # the last pattern's page closes the request
            page = latency.erase_listing(aws, latency.Shape(), erased.chats, last=last)
            queries = run.calls.count("dynamodb", "Query")
            page = [c for c in page if not (isinstance(c, latency.Call) and c.op == "Query")]
            page += [latency.Call("dynamodb", "Query", 0.0)] * queries  # as many Query pages as moto's 1 MB pages
        else:
            n = sum(c.items for c in run.calls.calls if c.op == "Query")
            fans_out = "range" not in body
            last = run.calls.count("dynamodb", "UpdateItem") > 0
            sends = run.calls.count("sqs", "SendMessageBatch") > 0
            page = latency.erase_page(
                aws,
                latency.Shape(),
                n,
                root_fans_out=fans_out,
                following=sends and not last,
                last=last,
                sends_listing=sends and last,
            )
        latency.check_against(page, run.calls.ops(), f"erasure message {body.get('range', body.get('part', 'root'))}")
        checked += 1
    # Units of one chat's writes, measured on the sampled full retag page.
    page = retags[m["sizes"][-1]].runs[-1].calls
    chats = page.count("s3", "PutObjectTagging")
    base_wru = (page.wru - page.gsi_wru - 1) / chats  # less the work record
    shape = latency.Shape(wru=base_wru, index_wru=page.gsi_wru / chats)
    out: dict[str, Any] = {
        "optout_10k": latency.opt_out(10_000, aws, shape),
        "optout_100k": latency.opt_out(100_000, aws, shape),
        "erasure_10k": latency.erasure(10_000, aws, shape),
    }
    out["optout_10k_floor"] = 10_000 * shape.wru / aws.partition_wcu
    out["optout_100k_floor"] = 100_000 * shape.wru / aws.partition_wcu
    out["erasure_10k_floor"] = 10_000 * (shape.wru + 1) / aws.partition_wcu  # the deleted record, the tombstone
    before = dataclasses.replace(aws, batch_size=10, range_threads=16)
    earlier = latency.opt_out(10_000, before, shape)
    unpaced = latency.opt_out(10_000, dataclasses.replace(aws, range_threads=16), shape)
    lines = [
        f"model checked against {checked} messages run on moto (retag N={small.chats}, the sampled 500-chat pages, "
        f"an erasure of {erased.chats}): the same calls, page by page",
        f"figures: DynamoDB {aws.dynamodb_item * 1000:.0f} ms per item call, {aws.dynamodb_batch * 1000:.0f} ms per "
        f"BatchGetItem; S3 GetObjectTagging {aws.s3_get_tagging * 1000:.0f} ms, PutObjectTagging "
        f"{aws.s3_put_tagging * 1000:.0f} ms, ListObjectVersions {aws.s3_list * 1000:.0f} ms; stream to handler "
        f"{aws.stream_delay:.1f} s, SQS hop {aws.hop:.1f} s, cold start {aws.cold_start:.1f} s",
        f"limits: {aws.partition_wcu:,.0f} WCU/s and {aws.partition_rcu:,.0f} RCU/s per partition; S3 "
        f"{aws.prefix_put:,.0f} PUT and {aws.prefix_get:,.0f} GET per second per prefix; workers "
        f"<= {aws.max_concurrency} (poller from {aws.poller_start}, +300/min), batch {aws.batch_size}, "
        f"{aws.threads} threads per page, {aws.range_threads} per range page",
        f"units per chat (measured): {shape.wru:.2f} WRU on the user's partition, {shape.index_wru:.2f} on the index",
        "",
        f"{'run':<34}{'last chat':>10}{'done':>8}{'floor':>8}{'workers':>9}{'throttled':>10}{'lost pages':>11}",
    ]
    for key, label in (
        ("optout_10k", "opt-out, 10k chats"),
        ("optout_100k", "opt-out, 100k chats"),
        ("erasure_10k", "erasure, 10k chats"),
    ):
        o = out[key]
        lines.append(
            f"{label:<34}{o.last_chat_at:>9.1f}s{o.done_at:>7.1f}s{out[key + '_floor']:>7.0f}s{o.peak_workers:>9}"
            f"{sum(o.throttled.values()):>10}{o.failed_pages:>11}"
        )
    for label, o in (("opt-out 10k, batch 10 (before)", earlier), ("opt-out 10k, 16 threads/range", unpaced)):
        lines.append(
            f"{label:<34}{o.last_chat_at:>9.1f}s{o.done_at:>7.1f}s{'':>8}{o.peak_workers:>9}"
            f"{sum(o.throttled.values()):>10}{o.failed_pages:>11}"
        )
    for key in ("optout_10k", "erasure_10k"):
        o = out[key]
        busy = ", ".join(f"{name} {share:.0%}" for name, share in latency.busiest(o, o.last_chat_at)[:3])
        lines.append(f"{key}: average use of each limit until the last chat: {busy}")
    lines.append(
        "a lost page is redelivered after the work queue's visibility timeout "
        f"({aws.visibility_timeout / 60:.0f} min): what a call throttled through every SDK attempt costs"
    )
    out["lines"] = lines
    return out


def marginal_sweep(small: scenarios.Sweep, large: scenarios.Sweep) -> dict[str, Any]:
    """Per due object, what a sweep adds from `small.due` to `large.due`; the rest is a fixed cost per night."""
    extra = large.due - small.due
    dynamodb = (large.calls.dynamodb - small.calls.dynamodb) / extra
    fixed = small.calls.dynamodb - dynamodb * small.due
    return {
        "dynamodb": dynamodb,
        "items": (large.calls.items_read - small.calls.items_read) / extra,
        "s3": (large.calls.s3 - small.calls.s3) / extra,
        "fixed": fixed,
        "fixed_what": "per shard the oldest-due probe, the page Query, the work record's read and write",
    }


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
    tagged = costs.bill(tag.tagged, scale, notifications=MILLION, consumed=MILLION, invocations=scale)
    lines.append(
        f"per million chat writes carrying their writer's tags: S3 {money(tagged.s3)}, "
        f"DynamoDB {money(tagged.dynamodb)}, SQS {money(tagged.sqs)}, Lambda {money(tagged.lambda_)} "
        f"= {money(tagged.total)}"
    )
    chats = 10_000
    # The whole measured chain (root, the hash ranges' pages), scaled: the root only fans out and tags nothing.
    scale, chain = chats / r1.chats, r1.work
    messages = len(r1.runs) * scale
    per_chain = costs.bill(chain, scale, consumed=messages, invocations=messages, memory_mb=1024)
    stream = costs.bill(r1.stream, 1, invocations=1, memory_mb=256)
    optout = per_chain + stream
    lines.append(
        f"per opt-out of a {chats // 1000}k-chat user (the N={r1.chats} chain x{scale:.0f}): S3 {money(optout.s3)}, "
        f"DynamoDB {money(optout.dynamodb)} "
        f"({chain.wru / r1.chats:.1f} WRU + {chain.rru / r1.chats:.2f} RRU per chat), "
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
    chain, messages = r1.work, len(r1.runs)  # the whole measured chain: its root only fans out
    return {
        "write": costs.bill(
            tag.first, MILLION / tag.objects, notifications=MILLION, consumed=MILLION, invocations=MILLION / tag.objects
        ),
        "retagged chat": costs.bill(
            chain,
            MILLION / r1.chats,
            consumed=messages * MILLION / r1.chats,
            invocations=messages * MILLION / r1.chats,
            memory_mb=1024,
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
    parser.add_argument("--skip-training", action="store_true", help="leave the training side out (a partial run)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    started = time.perf_counter()
    log = ROOT / ".bench"
    log.mkdir(exist_ok=True)
    print("consentry cost benchmarks (moto; API calls counted through botocore event hooks)", file=sys.stderr)
    with open(log / "handlers.log", "w") as out, contextlib.redirect_stdout(out):
        measured = measure(args.quick, args.training_1m, args.skip_training)
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

"""The markdown section `bench_query.py` writes into RESULTS.md."""

from __future__ import annotations

import datetime as dt
import shlex
from typing import TYPE_CHECKING, Any

from querybench import QUERIES, QUERY_TITLES, SIZES, Cell

if TYPE_CHECKING:
    from bench_query import Bench, PeerRun

TARGETS = {("full", "year"): 0.5, ("full", "10y"): 3.0, ("get", "month"): 0.08}
SIZE_TITLES = {"day": "day", "week": "week", "month": "month", "year": "year",
               "10y": "ten years"}
SIZE_ADJECTIVES = {"day": "one-day", "week": "one-week", "month": "one-month",
                   "year": "one-year", "10y": "ten-year"}


def _s(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 10 else f"{value:.1f}"


def _warm(cell: Cell | None) -> str:
    if cell is None:
        return "—"
    if cell.error and not cell.warm:
        return "✗"
    median = cell.warm_median
    return "—" if median is None else f"{_s(median)} (n={len(cell.warm)})"


def _cold(cell: Cell | None, kind: str = "cold") -> str:
    if cell is None:
        return "—"
    value = getattr(cell, kind)
    if value is None and cell.error:
        return "✗ " + ("timeout" if "timed out" in cell.error else "error")
    return _s(value)


def _ratio(fastaw: Cell | None, reference: Cell | None) -> str:
    if fastaw is None or reference is None:
        return "—"
    a, b = fastaw.warm_median, reference.warm_median
    if a is None or b is None or a <= 0:
        return "—"
    return f"{b / a:,.0f}×" if b / a >= 10 else f"{b / a:.1f}×"


def _target(query: str, size: str, fastaw: Cell | None) -> str:
    limit = TARGETS.get((query, size))
    if limit is None:
        return ""
    value = None if fastaw is None else fastaw.warm_median
    verdict = "" if value is None else (" ✓" if value <= limit else " ✗")
    return f"≤ {limit:g} s{verdict}"


def _same(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Compare reply facts; numbers within 0.01 % count as the same (Python's reference
    rounds durations to microseconds and differs from aw-server-rust in a few corners)."""
    if not a or not b:
        return "—"
    notes = []
    for key in a:
        if key not in b or a[key] == b[key]:
            continue
        x, y = a[key], b[key]
        if isinstance(x, float | int) and isinstance(y, float | int) and \
                abs(x - y) <= 1e-4 * max(abs(x), abs(y), 1.0):
            notes.append(f"{key} Δ {x - y:+.3f}")
        else:
            return "differs: " + ", ".join(f"{k} {a[k]!r} vs {b.get(k)!r}"
                                           for k in a if a[k] != b.get(k))
    return "same" + (f" (within 0.01 %: {', '.join(notes)})" if notes else "")


def render(argv: list[str], bench: Bench, runs: list[PeerRun], data_note: str,
           machine: list[str], seconds: float) -> str:
    args = bench.args
    by_name = {run.name: run for run in runs}
    fa, ref = by_name.get("fastaw"), by_name.get("reference")
    lines = [f"**{args.note}**", ""] if args.note else []
    lines += [
        f"Command: `{shlex.join(['python', 'bench/bench_query.py', *argv])}` "
        f"({seconds / 60:.0f} min)",
        "",
        f"Date: {dt.datetime.now().astimezone().isoformat(timespec='seconds')}",
        "",
        *(f"{line}  " for line in machine),
        "",
        f"Data: {data_note}.",
        "",
        "Reference: " + (ref.failure or ref.load_note or "not run" if ref else "not run") + ".",
        "",
        "Seconds from sending the request to the last byte of the reply, on 127.0.0.1. "
        "*Cold, no chunks*: first request after a server start with the column-chunk cache "
        "emptied (fastaw builds the chunks of every window it reads). *Cold*: first request "
        f"after a restart, {args.settle:g} s after the server answered (fastaw starts its "
        "query worker on the first query: ≈ 0.5 s of the figure; the reference has none). "
        "*Warm*: median of the repeats (n). Periods end at the end of the "
        "history; *day* is its last working day, *month* and *year* calendar ones. "
        "reference/fastaw = ratio of warm medians (how many times faster fastaw is).",
        "",
        "| query | period | window events | fastaw cold, no chunks | fastaw cold | fastaw warm "
        "| reference cold | reference warm | reference/fastaw | target |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for query in QUERIES:
        if query not in args.queries:
            continue
        for size in SIZES:
            if size not in args.sizes:
                continue
            a = fa.cells.get((query, size)) if fa else None
            b = ref.cells.get((query, size)) if ref else None
            get = fa.cells.get(("get", size)) if fa else None
            events = get.summary.get("events") if get and get.summary else None
            nochunks = _cold(a, "nochunks") if query == "full" else ""
            lines.append(
                f"| {QUERY_TITLES[query]} | {SIZE_TITLES[size]} | "
                f"{'—' if events is None else f'{events:,}'} | {nochunks} | {_cold(a)} | "
                f"{_warm(a)} | {_cold(b)} | {_warm(b)} | {_ratio(a, b)} | "
                f"{_target(query, size, a)} |")
    if fa and fa.hb_busy and fa.hb_idle:
        times = ", ".join(_s(s) for s in fa.hb_query_seconds)
        lines += [
            "",
            f"Heartbeats during the {SIZE_ADJECTIVES[args.hb_size]} Activity query (fastaw): "
            f"`{args.hb_rate:g}`/s "
            "from a separate process over one keep-alive connection into their own bucket "
            "(pulsetime 2 s, two alternating windows, durable commit before each reply), "
            f"first {args.hb_idle:g} s idle, then while the query ran {len(fa.hb_query_seconds)} "
            f"times back to back ({times} s). Latency = request sent → reply read; "
            "*from schedule* also counts waiting for the previous reply. Target p99 ≤ 10 ms.",
            "",
            "*Other CPU*: cores used meanwhile by processes other than the server and the "
            "benchmark (the heartbeat sender included); *CPU pressure*: share of the time some "
            "task on the machine waited for a CPU (`/proc/pressure/cpu`).",
            "",
            "| phase | heartbeats | per s | p50 ms | p99 ms | max ms | p99 from schedule ms "
            "| errors | other CPU | CPU pressure |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        contention = fa.hb_contention + [(float("nan"), float("nan"))] * 2
        for name, stats, (others, stall) in (("idle", fa.hb_idle, contention[0]),
                                             ("during the query", fa.hb_busy, contention[1])):
            lines.append(f"| {name} | {stats.row()} | {others:.2f} | {stall:.0%} |")
    lines += [
        "",
        "Memory: sums over the server's process tree (HTTP worker(s) and query workers), "
        "sampled every 50 ms in the one-year block: while the one-year Activity query "
        "requests ran (cold and warm), and over the whole block (which also lists a year "
        "of events with GET). VmRSS includes the pages of the memory-mapped LMDB file a "
        "process has read (page cache, shared; counted once per process); RssAnon is "
        "memory of the process's own, but a page processes share copy-on-write (Granian "
        "forks its HTTP worker from its main process) counts in each of them; PSS anon "
        "(Pss_Anon of smaps_rollup) divides such a page among them, so its sum counts "
        "each page once: the memory the server holds. Target ≤ 400 MB during the one-year "
        "query.",
        "",
        "| peer | idle before, MiB | Activity query: peak VmRSS | peak RssAnon "
        "| peak PSS anon | whole block: peak VmRSS | peak RssAnon | peak PSS anon |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        if run.rss_year[0]:
            q, y = run.rss_query, run.rss_year
            lines.append(f"| {run.name} | {run.rss_idle / 2**20:.0f} | "
                         + " | ".join(f"{v / 2**20:.0f}" for v in (*q, *y)) + " |")
    if fa and ref:
        lines += ["", "Same answers? (a few facts of each reply: totals, top apps, top "
                  "categories, counts)", "", "| query | period | fastaw vs reference |",
                  "|---|---|---|"]
        for (query, size), cell in ref.cells.items():
            mine = fa.cells.get((query, size))
            lines.append(f"| {query} | {size} | "
                         f"{_same(mine.summary if mine else {}, cell.summary)} |")
    busy = [f"{run.name} {sum(run.other_cpu) / run.busy_seconds:.2f}"
              for run in runs if run.other_cpu and run.busy_seconds]
    if busy:
        lines += ["", "CPU used by other processes on the machine while the timed requests "
                  "ran (cores on average; 2.0 = both cores busy with something else): "
                  + ", ".join(busy) + "."]
    for run in runs:
        errors = [f"{q} {s}: {c.error}" for (q, s), c in run.cells.items() if c.error]
        if errors:
            lines += ["", f"{run.name} errors: " + "; ".join(f"`{e}`" for e in errors)]
    return "\n".join(lines) + "\n"

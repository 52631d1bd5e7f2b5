"""Benchmark whole-history export, import, migration — and server memory while exporting.

Measures, on a seeded synthetic history (window events with realistic titles, ~85 %, and
afk events, ~15 %):

* export of N events (default 1,000,000) from the store as ActivityWatch JSON, NDJSON, CSV,
  Parquet and partitioned Parquet (median of ``--repeat``), in-process;
* import throughput (validate + apply in one transaction; median of ``--repeat``) of the
  JSON, NDJSON and Parquet exports into an empty store, and of ``fastaw migrate`` from an
  aw-server-rust-schema SQLite file with the same events;
* ``fastaw serve`` over HTTP: ``GET /api/0/export`` (JSON and Parquet) time and the server's
  RSS (process tree) before and at its peak during the download, optionally on a larger
  store (``--rss-events``, e.g. 10,000,000);
* the reference aw-server 0.12.0 (``/work/refvenv``, see README.md) on a peewee database of
  ``--ref-events`` events (default 100,000): its export time and peak RSS, and fastaw's
  on the same events for comparison.

Usage::

    .venv/bin/python bench/bench_exchange.py --out bench/RESULTS.md
    .venv/bin/python bench/bench_exchange.py --events 200000 --repeat 1 --no-reference

Generated data lives in a temp dir (``--keep DIR`` keeps it) and is never committed.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import random
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from peers import Peer, PeerConfig, proc_status_kib, process_tree

from fastaw.exchange import Selection, export_parquet, export_stream, prepare_import
from fastaw.exchange.migrate import migrate
from fastaw.models import Bucket, canonical_data
from fastaw.storage import Env, Writer
from fastaw.storage.bulk import BulkInserter, create_or_get
from fastaw.timefmt import format_ns

SECTION = "bench_exchange.py: export, import, migration, export memory"
START = 1_672_531_200_000_000_000  # 2023-01-01
APPS = ["firefox", "code", "kitty", "slack", "thunderbird", "evince", "gimp", "zoom"]


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- data -----------------------------------------------------------------------------------

def history(count: int, seed: int) -> Iterator[tuple[str, list[int], list[int], list[bytes]]]:
    """Seeded batches of (bucket, starts, durations, canonical data)."""
    rng = random.Random(seed)
    titles = [canonical_data({"app": app, "title": f"{app} — document {i} · ünïcödé ✓"})
              for app in APPS for i in range(60)]
    afk = [canonical_data({"status": "afk"}), canonical_data({"status": "not-afk"})]
    plan = [("aw-watcher-window_bench", int(count * 0.85)), ("aw-watcher-afk_bench", 0)]
    plan[1] = (plan[1][0], count - plan[0][1])
    for bucket, total in plan:
        clock = START
        made = 0
        while made < total:
            size = min(100_000, total - made)
            starts, durations, datas = [], [], []
            for _ in range(size):
                duration = rng.choice((0, 1, 2, 5, 30, 120)) * 10**9 + rng.randrange(10**9)
                starts.append(clock)
                durations.append(duration)
                datas.append(rng.choice(afk) if "afk" in bucket else rng.choice(titles))
                clock += duration + rng.randrange(3 * 10**9)
            made += size
            yield bucket, starts, durations, datas


def make_store(path: Path, count: int, seed: int) -> None:
    env = Env(path)
    writer = Writer(env)
    writer.start()
    try:
        for bucket, starts, durations, datas in history(count, seed):
            record = Bucket(id=bucket, num=0, type="afkstatus" if "afk" in bucket
                            else "currentwindow", client="bench", hostname="bench",
                            created=START)

            def op(writes: Any, record: Bucket = record, s: list[int] = starts,
                   d: list[int] = durations, x: list[bytes] = datas) -> None:
                BulkInserter(writes, create_or_get(writes, record)[0]).add(s, d, x)

            writer.run_sync(op)
    finally:
        writer.stop()
        env.close()


def make_rust_db(path: Path, count: int, seed: int) -> None:
    """aw-server-rust's schema (datastore.rs v6) holding the same history."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE buckets (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT UNIQUE NOT NULL,
            type TEXT NOT NULL, client TEXT NOT NULL, hostname TEXT NOT NULL,
            created TEXT NOT NULL, data_deprecated TEXT DEFAULT '{}',
            data TEXT NOT NULL DEFAULT '{}');
        CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, bucketrow INTEGER NOT NULL,
            starttime INTEGER NOT NULL, endtime INTEGER NOT NULL, data TEXT NOT NULL);
        CREATE INDEX events_bucketrow_starttime_endtime_index
            ON events(bucketrow, starttime DESC, endtime);
        PRAGMA user_version = 6;""")
    rows: dict[str, int] = {}
    for bucket, starts, durations, datas in history(count, seed):
        if bucket not in rows:
            cursor = conn.execute(
                "INSERT INTO buckets (name, type, client, hostname, created) VALUES "
                "(?, 'currentwindow', 'bench', 'bench', '2023-01-01 00:00:00+00:00')", (bucket,))
            rows[bucket] = int(cursor.lastrowid or 0)
        conn.executemany(
            "INSERT INTO events (bucketrow, starttime, endtime, data) VALUES (?, ?, ?, ?)",
            ((rows[bucket], s, s + d, x.decode())
             for s, d, x in zip(starts, durations, datas, strict=True)))
    conn.commit()
    conn.close()


def make_peewee_db(path: Path, count: int, seed: int) -> None:
    """aw-server's (peewee) schema holding the same history (ms timestamps, as it stores)."""
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE "bucketmodel" ("key" INTEGER NOT NULL PRIMARY KEY,
            "id" VARCHAR(255) NOT NULL, "created" DATETIME NOT NULL, "name" VARCHAR(255),
            "type" VARCHAR(255) NOT NULL, "client" VARCHAR(255) NOT NULL,
            "hostname" VARCHAR(255) NOT NULL, "datastr" VARCHAR(255));
        CREATE TABLE "eventmodel" ("id" INTEGER NOT NULL PRIMARY KEY,
            "bucket_id" INTEGER NOT NULL, "timestamp" DATETIME NOT NULL,
            "duration" DECIMAL(10, 5) NOT NULL, "datastr" VARCHAR(255) NOT NULL);
        CREATE UNIQUE INDEX "bucketmodel_id" ON "bucketmodel" ("id");
        CREATE INDEX eventmodel_bucket_id_timestamp ON eventmodel (bucket_id, timestamp);""")
    keys: dict[str, int] = {}
    for bucket, starts, durations, datas in history(count, seed):
        if bucket not in keys:
            keys[bucket] = len(keys) + 1
            conn.execute("INSERT INTO bucketmodel VALUES (?, ?, '2023-01-01 00:00:00+00:00', "
                         "NULL, 'currentwindow', 'bench', 'bench', '{}')",
                         (keys[bucket], bucket))
        conn.executemany(
            "INSERT INTO eventmodel (bucket_id, timestamp, duration, datastr) "
            "VALUES (?, ?, ?, ?)",
            ((keys[bucket], format_ns(s // 10**6 * 10**6).replace("T", " ")
              .replace("Z", "+00:00"), round(d / 1e9, 3), x.decode())
             for s, d, x in zip(starts, durations, datas, strict=True)))
    conn.commit()
    conn.close()


# -- measurements ---------------------------------------------------------------------------

def median_run(repeat: int, run: Callable[[], Any]) -> tuple[float, float]:
    """The median wall time and the CPU time (all threads of this process) of that run."""
    times = []
    for _ in range(repeat):
        started, cpu = time.perf_counter(), time.process_time()
        run()
        times.append((time.perf_counter() - started, time.process_time() - cpu))
    return sorted(times)[len(times) // 2]


def export_to(env: Env, fmt: str, out: Path) -> None:
    selection = Selection().resolve(env)
    if fmt.startswith("parquet"):
        if out.exists():
            shutil.rmtree(out) if out.is_dir() else out.unlink()
        export_parquet(env, selection, out, partitioned=fmt == "parquet-partitioned")
        return
    with open(out, "wb") as stream:
        for chunk in export_stream(env, selection, fmt):
            stream.write(chunk)


def size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def import_into(path: Path, store: Path) -> tuple[float, float, float, float, int]:
    """(first s, then s, CPU s of this process, CPU s of the reader process, events)."""
    shutil.rmtree(store, ignore_errors=True)
    env = Env(store)
    writer = Writer(env)
    writer.start()
    try:
        started, cpu, child = time.perf_counter(), time.process_time(), children_cpu()
        staged = prepare_import(path, spool_dir=store)
        parsed = time.perf_counter()
        summary = writer.run_sync(staged.apply)
        done = time.perf_counter()
        cpu = time.process_time() - cpu
        staged.close()  # joins the reader process, if any: its CPU time is counted now
        child = children_cpu() - child
    finally:
        writer.stop()
        env.close()
    return parsed - started, done - parsed, cpu, child, summary.events_imported


def tree_memory(pid: int) -> tuple[int, int]:
    """(VmRSS, RssAnon) summed over a process tree, in bytes. RssAnon is private memory;
    the rest of VmRSS is mostly LMDB's memory-mapped file (page cache, shared, evictable)."""
    pids = process_tree(pid)
    return (sum(proc_status_kib(p, "VmRSS") for p in pids) * 1024,
            sum(proc_status_kib(p, "RssAnon") for p in pids) * 1024)


class RssSampler:
    """Peak RSS and anonymous RSS of a process tree while a block runs (every 50 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.before, self.anon_before = tree_memory(pid)
        self.peak, self.anon_peak = self.before, self.anon_before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> None:
        rss, anon = tree_memory(self.pid)
        self.peak = max(self.peak, rss)
        self.anon_peak = max(self.anon_peak, anon)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(0.05)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()


def http_export(peer: Peer, fmt: str, timeout: float = 3600) -> dict[str, Any]:
    assert peer.proc is not None
    url = f"{peer.base_url}/api/0/export" + ("" if fmt == "json" else f"?format={fmt}")
    size = 0
    started = time.perf_counter()
    status = 0
    error = ""
    with RssSampler(peer.proc.pid) as rss:
        try:
            with httpx.stream("GET", url, timeout=timeout) as response:
                status = response.status_code
                for chunk in response.iter_bytes(1 << 20):
                    size += len(chunk)
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
    return {"seconds": time.perf_counter() - started, "bytes": size, "status": status,
            "error": error, "rss_before": rss.before, "rss_peak": rss.peak,
            "anon_before": rss.anon_before, "anon_peak": rss.anon_peak}


def http_import(peer: Peer, path: Path, timeout: float = 3600) -> dict[str, Any]:
    """POST a file to /api/0/import, streamed from disk; time and server memory."""
    assert peer.proc is not None
    size = path.stat().st_size

    def body() -> Iterator[bytes]:
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                yield block

    started = time.perf_counter()
    with RssSampler(peer.proc.pid) as rss:
        response = httpx.post(f"{peer.base_url}/api/0/import", content=body(), timeout=timeout,
                              headers={"content-type": "application/json",
                                       "content-length": str(size)})
    return {"seconds": time.perf_counter() - started, "bytes": size,
            "status": response.status_code, "rss_before": rss.before, "rss_peak": rss.peak,
            "anon_before": rss.anon_before, "anon_peak": rss.anon_peak}


class StorePeer(Peer):
    """fastaw serving a prepared store (its --data-dir is overridden)."""

    def __init__(self, store: Path) -> None:
        super().__init__(PeerConfig("fastaw", extra_args=["--data-dir", str(store)]),
                         ready_timeout=120)


class PreloadedReference(Peer):
    """The reference aw-server started on a prepared peewee database."""

    def __init__(self, db: Path, ref_python: str | None) -> None:
        super().__init__(PeerConfig("reference", ref_python=ref_python), ready_timeout=300)
        self.db = db

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        cmd, env, cwd = super().command()
        target = Path(env["XDG_DATA_HOME"]) / "activitywatch" / "aw-server"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(self.db, target / "peewee-sqlite.v2.db")
        return cmd, env, cwd


def mib(value: float) -> str:
    return f"{value / 2**20:,.0f}"


def memory(result: dict[str, Any]) -> str:
    return (f"{mib(result['rss_before'])} → {mib(result['rss_peak'])} | "
            f"{mib(result['anon_before'])} → {mib(result['anon_peak'])}")


def machine() -> str:
    model = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1])
    load = os.getloadavg()
    return (f"{model}; {len(os.sched_getaffinity(0))} cores; {mem / 2**20:.0f} GiB; Python "
            f"{platform.python_version()}; load average at start {load[0]:.1f} (the machine "
            "is shared with other sessions: figures are medians of N runs)")


# -- main -----------------------------------------------------------------------------------

def run(args: argparse.Namespace, work: Path) -> str:
    commit = subprocess.run(["git", "-C", str(Path(__file__).resolve().parent.parent),
                             "describe", "--always", "--dirty"],
                            capture_output=True, text=True).stdout.strip() or "?"
    lines = [f"Command: `{' '.join(['.venv/bin/python', 'bench/bench_exchange.py', *sys.argv[1:]])}`",
             "", f"Date: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}; fastaw commit "
             f"{commit}", "", f"Machine: {machine()}.", ""]
    store = work / "store"
    log(f"generating {args.events:,} events …")
    make_store(store, args.events, args.seed)
    env = Env(store, readonly=True)
    results: dict[str, tuple[float, float, int]] = {}
    for fmt in ("json", "ndjson", "csv", "parquet", "parquet-partitioned"):
        out = work / f"export.{fmt}"
        seconds, cpu = median_run(args.repeat, functools.partial(export_to, env, fmt, out))
        results[fmt] = (seconds, cpu, size_of(out))
        log(f"export {fmt}: {seconds:.2f} s")
    env.close()
    lines += [f"### Export of {args.events:,} events (in-process, median of {args.repeat})", "",
              "CPU s is this process's CPU time (all threads; Polars uses both cores) — less "
              "sensitive than wall time to the other sessions on the machine.", "",
              "| format | seconds | CPU s | events/s | output MB | target |",
              "|---|---:|---:|---:|---:|---|"]
    targets = {"json": "≤ 2 s", "parquet": "≤ 1 s"}
    for fmt, (seconds, cpu, size) in results.items():
        lines.append(f"| {fmt} | {seconds:.2f} | {cpu:.2f} | {args.events / seconds:,.0f} | "
                     f"{size / 1e6:,.0f} | {targets.get(fmt, '')} |")

    lines += ["", f"### Import of {args.events:,} events into an empty store "
              f"(median of {args.repeat})", "",
              "As `fastaw import` does it: files of ≥ 32 MB (JSON, NDJSON) and Parquet of "
              "≥ 4 MB are read by a child process while the writer inserts (*first* ≈ 0, "
              "*then* = everything); smaller ones in two passes (validate, then one "
              "transaction). CPU s: this process + the reader process.", "",
              "| source | first s | then s | total s | events/s | CPU s | "
              "events per CPU s |", "|---|---:|---:|---:|---:|---:|---:|"]
    for fmt in ("json", "ndjson", "parquet"):
        runs = sorted((import_into(work / f"export.{fmt}", work / "imported")
                       for _ in range(args.repeat)), key=lambda r: r[0] + r[1])
        parse, apply, cpu, child, count = runs[len(runs) // 2]
        lines.append(f"| {fmt} export | {parse:.2f} | {apply:.2f} | {parse + apply:.2f} | "
                     f"{count / (parse + apply):,.0f} | {cpu:.2f} + {child:.2f} | "
                     f"{count / (cpu + child):,.0f} |")
        log(f"import {fmt}: {[f'{r[0]:.2f}+{r[1]:.2f} cpu {r[2]:.2f}+{r[3]:.2f}' for r in runs]}")
    rust_db = work / "sqlite.db"
    make_rust_db(rust_db, args.events, args.seed)
    shutil.rmtree(work / "migrated", ignore_errors=True)
    menv = Env(work / "migrated")
    writer = Writer(menv)
    writer.start()
    cpu = time.process_time()
    try:
        summary = migrate(rust_db, writer)
    finally:
        writer.stop()
        menv.close()
    cpu = time.process_time() - cpu
    lines.append(f"| `fastaw migrate` of an aw-server-rust sqlite.db | | | "
                 f"{summary.seconds:.2f} | {summary.events_read / summary.seconds:,.0f} | "
                 f"{cpu:.2f} | {summary.events_read / cpu:,.0f} |")
    log(f"migrate: {summary.seconds:.2f} s")

    lines += ["", "### Over HTTP: `fastaw serve`, `GET /api/0/export`", "",
              "| store | format | seconds | MB sent | RSS before → peak MiB | "
              "private (RssAnon) before → peak MiB |",
              "|---|---|---:|---:|---:|---:|"]
    stores = [(args.events, store)]
    if args.rss_events:
        big = work / "big"
        log(f"generating {args.rss_events:,} events for the RSS run …")
        make_store(big, args.rss_events, args.seed + 1)
        stores.append((args.rss_events, big))
    for count, path in stores:
        with StorePeer(path) as peer:
            for fmt in ("json", "parquet"):
                result = http_export(peer, fmt)
                lines.append(f"| {count:,} events | {fmt} | {result['seconds']:.2f} | "
                             f"{result['bytes'] / 1e6:,.0f} | {memory(result)} |")
                log(f"http export {count} {fmt}: {result}")

    lines += ["", f"### Over HTTP: `POST /api/0/import` of the {args.events:,}-event JSON export "
              "into an empty `fastaw serve`", "",
              "| seconds | events/s | MB uploaded | RSS before → peak MiB | "
              "private (RssAnon) before → peak MiB |", "|---:|---:|---:|---:|---:|"]
    empty = work / "empty"
    with StorePeer(empty) as peer:
        result = http_import(peer, work / "export.json")
    lines.append(f"| {result['seconds']:.2f} | {args.events / result['seconds']:,.0f} | "
                 f"{result['bytes'] / 1e6:,.0f} | {memory(result)} |")
    log(f"http import: {result}")

    if not args.no_reference:
        lines += reference_rows(args, work)
    return "\n".join(lines) + "\n"


def reference_rows(args: argparse.Namespace, work: Path) -> list[str]:
    db = work / "peewee-sqlite.v2.db"
    make_peewee_db(db, args.ref_events, args.seed)
    small = work / "ref-store"
    make_store(small, args.ref_events, args.seed)
    lines = ["", f"### The reference aw-server 0.12.0 vs fastaw, {args.ref_events:,} events "
             "(same history), `GET /api/0/export`", "",
             "| server | seconds | MB sent | status | RSS before → peak MiB | "
             "private (RssAnon) before → peak MiB |",
             "|---|---:|---:|---|---:|---:|"]
    try:
        with PreloadedReference(db, args.ref_python) as ref:
            result = http_export(ref, "json", timeout=args.ref_timeout)
    except (OSError, RuntimeError, TimeoutError) as exc:
        return [*lines, f"| aw-server 0.12.0 | could not run: {exc} | | | | |"]
    status = str(result["status"]) + (f" ({result['error']})" if result["error"] else "")
    lines.append(f"| aw-server 0.12.0 | {result['seconds']:.2f} | {result['bytes'] / 1e6:,.1f} "
                 f"| {status} | {memory(result)} |")
    log(f"reference export: {result}")
    with StorePeer(small) as peer:
        mine = http_export(peer, "json")
    lines.append(f"| fastaw | {mine['seconds']:.2f} | {mine['bytes'] / 1e6:,.1f} | "
                 f"{mine['status']} | {memory(mine)} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rss-events", type=int, default=0,
                        help="also export a store of this many events over HTTP (RSS)")
    parser.add_argument("--ref-events", type=int, default=100_000)
    parser.add_argument("--ref-timeout", type=float, default=900.0)
    parser.add_argument("--ref-python", default=None)
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--keep", type=Path, default=None, help="keep generated data here")
    parser.add_argument("--out", type=Path, default=None, help="write the section into FILE")
    args = parser.parse_args(argv)
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-exchange-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        text = run(args, work)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    print(text)
    if args.out is not None:
        from bench_http import write_section

        write_section(args.out, SECTION, text)
        log(f"wrote section {SECTION!r} of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

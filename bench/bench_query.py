"""Query benchmarks: the dashboard's Activity query, a merge-by-app query and GET events
over a day … ten years of generated history, fastaw against the reference aw-server.

What runs (all on 127.0.0.1, one server at a time, see bench/README.md):

1. A seeded ten-year desktop history (``fastaw.datagen``, ≈ 1M window events a year plus
   AFK, Chrome/Firefox and VS Code events) is generated straight into a store under
   ``bench/.data/`` (kept and reused while the spec is unchanged).
2. fastaw serves that store. Per size (day, week, month, year, ten years, all ending at
   the history's end): the full query once right after a start with the column-chunk
   cache emptied ("cold, no chunks"); then, after a restart, each query once ("cold") and
   ``--repeat`` more times interleaved ("warm", median). Peak RSS of the server's process
   tree is sampled during the one-year block. With the ten-year block, heartbeats stream
   at ``--hb-rate``/s from a separate process into a bench bucket, first idle, then while
   the ten-year Activity query runs; their latencies are reported.
3. The reference (Python aw-server) gets the *last year* of the same history through its
   HTTP API (batches of 1000; the generator produces identical days whatever the range)
   and runs the same requests for the sizes up to a year; a request over ``--timeout``
   skips that query's bigger sizes.

    .venv/bin/python bench/bench_query.py --out bench/RESULTS.md
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_http import machine_info, write_section
from dashboard import apps_query, full_desktop_query
from hbload import HeartbeatLoad, Latencies, summarize
from peers import Peer, PeerConfig
from querybench import (
    QUERIES,
    SIZES,
    Cell,
    Client,
    RssSampler,
    clear_chunks,
    ensure_store,
    periods_of,
    summary_of,
)

from fastaw.datagen import CHROME, FIREFOX, HttpSink, Spec, generate

SECTION = "Queries (bench/bench_query.py)"
HB_BUCKET = "aw-watcher-window_hb-bench"


def log(message: str) -> None:
    print(f"[bench_query {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class PeerRun:
    name: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    rss_year: tuple[int, int] = (0, 0)  # peak (VmRSS sum, RssAnon sum) in the year block
    rss_idle: int = 0
    hb_idle: Latencies | None = None
    hb_busy: Latencies | None = None
    hb_query_seconds: list[float] = field(default_factory=list)
    load_note: str = ""
    failure: str = ""

    def cell(self, query: str, size: str) -> Cell:
        return self.cells.setdefault((query, size), Cell())


class Bench:
    def __init__(self, args: argparse.Namespace, spec: Spec) -> None:
        self.args = args
        self.spec = spec
        self.periods = periods_of(spec)
        browsers = {CHROME.key: spec.bucket_id(CHROME), FIREFOX.key: spec.bucket_id(FIREFOX)}
        self.queries: dict[str, list[str]] = {
            "full": full_desktop_query(spec.hostname, browsers),
            "apps": apps_query(spec.hostname),
        }
        self.window = f"aw-watcher-window_{spec.hostname}"

    # -- one request ---------------------------------------------------------------------
    def request(self, client: Client, query: str, size: str) -> tuple[float, bytes]:
        period = self.periods[size]
        if query == "get":
            return client.get_events(self.window, period)
        return client.query(self.queries[query], period)

    def measure(self, client: Client, run: PeerRun, query: str, size: str,
                kind: str) -> bool:
        """One timed request recorded as ``kind`` (nochunks/cold/warm); False on failure."""
        cell = run.cell(query, size)
        try:
            seconds, body = self.request(client, query, size)
        except Exception as exc:  # timeouts, HTTP errors: recorded, never fatal
            cell.error = f"{type(exc).__name__}: {exc}"[:200]
            log(f"{run.name} {query} {size} {kind}: FAILED {cell.error}")
            return False
        cell.record(kind, seconds)
        if not cell.summary:
            cell.summary = summary_of(query, body)
            cell.bytes = len(body)
        log(f"{run.name} {query} {size} {kind}: {seconds:.3f} s ({len(body):,} bytes)")
        return True

    def warm(self, client: Client, run: PeerRun, size: str, queries: list[str],
             repeat: int) -> None:
        spent = {q: 0.0 for q in queries}
        for _ in range(repeat):
            for query in queries:
                cell = run.cell(query, size)
                if cell.error or spent[query] > self.args.budget:
                    continue
                before = sum(cell.warm)
                self.measure(client, run, query, size, "warm")
                spent[query] += sum(cell.warm) - before

    # -- fastaw --------------------------------------------------------------------------
    def fastaw_peer(self, store: Path) -> Peer:
        config = Path(self.args.workdir) / "fastaw-bench.toml"
        config.write_text(f"query_timeout = {self.args.timeout:g}\n")
        extra = ["--data-dir", str(store), "--config", str(config)]
        peer = Peer(PeerConfig("fastaw", workers=self.args.workers, extra_args=extra))
        peer.start()
        time.sleep(self.args.settle)  # the query workers finish starting
        return peer

    def run_fastaw(self, store: Path) -> PeerRun:
        run = PeerRun("fastaw")
        queries = [q for q in QUERIES if q in self.args.queries]
        for size in self.args.sizes:
            if "full" in queries:
                clear_chunks(store)
                with self.fastaw_peer(store) as peer:
                    self.measure(Client(peer.base_url, self.args.timeout), run, "full", size,
                                 "nochunks")
            with self.fastaw_peer(store) as peer:
                client = Client(peer.base_url, self.args.timeout)
                sampler = RssSampler(peer.proc.pid if peer.proc else 0)
                if size == "year":
                    run.rss_idle = sampler.sample()[0]
                    sampler.start()
                for query in queries:
                    self.measure(client, run, query, size, "cold")
                self.warm(client, run, size, queries, self.args.repeat)
                if size == "year":
                    run.rss_year = sampler.stop()
                if size == "10y" and "full" in queries and self.args.hb_rate > 0:
                    self.heartbeats(peer, client, run)
        return run

    def heartbeats(self, peer: Peer, client: Client, run: PeerRun) -> None:
        log(f"heartbeats at {self.args.hb_rate}/s: idle, then during the ten-year query")
        with HeartbeatLoad(peer.base_url, HB_BUCKET, self.args.hb_rate) as load:
            idle_start = load.now()
            time.sleep(self.args.hb_idle)
            idle_end = busy_start = load.now()
            windows = []
            for _ in range(self.args.hb_queries):
                start = load.now()
                try:
                    seconds, _ = client.query(self.queries["full"], self.periods["10y"])
                except Exception as exc:  # still a heavy query: the latencies count
                    seconds = load.now() - start
                    log(f"ten-year query under heartbeats failed: {exc}")
                windows.append((start, load.now()))
                run.hb_query_seconds.append(seconds)
                if sum(run.hb_query_seconds) > self.args.budget:
                    break
            busy_end = load.now()
        run.hb_idle = summarize(load.between(idle_start, idle_end))
        run.hb_busy = summarize([s for a, b in windows for s in load.between(a, b)])
        log(f"heartbeats idle p99 {run.hb_idle.p99_ms:.2f} ms, during the query "
            f"p99 {run.hb_busy.p99_ms:.2f} ms ({busy_end - busy_start:.1f} s)")

    # -- reference -----------------------------------------------------------------------
    def run_reference(self) -> PeerRun:
        run = PeerRun("reference")
        sizes = [s for s in self.args.sizes if SIZES.index(s) <= SIZES.index(self.args.ref_max)]
        if not sizes:
            return run
        years = {"day": 1 / 365, "week": 7 / 365, "month": 31 / 365, "year": 1.0}[sizes[-1]]
        load_spec = Spec(seed=self.spec.seed, years=max(years, 2 / 365),
                         events_per_year=self.spec.events_per_year, end=self.spec.end,
                         utc_offset_minutes=self.spec.utc_offset_minutes,
                         hostname=self.spec.hostname)
        config = PeerConfig("reference", ref_python=self.args.ref_python)
        with Peer(config) as peer:
            log(f"loading {len(load_spec.days)} days into the reference over HTTP …")
            report = generate(load_spec, HttpSink(load_spec, peer.base_url), progress=True)
            run.load_note = (f"{report.total:,} events ({len(load_spec.days)} days) loaded "
                             f"through its HTTP API in batches of 1000 in "
                             f"{report.seconds:.0f} s ({report.total / report.seconds:,.0f} "
                             "events/s)")
            log(run.load_note)
            client = Client(peer.base_url, self.args.timeout)
            queries = [q for q in QUERIES if q in self.args.queries]
            failed: set[str] = set()
            sampler = RssSampler(peer.proc.pid if peer.proc else 0)
            for size in sizes:
                live = [q for q in queries if q not in failed]
                if size == "year":
                    run.rss_idle = sampler.sample()[0]
                    sampler.start()
                for query in live:
                    if not self.measure(client, run, query, size, "cold"):
                        failed.add(query)
                self.warm(client, run, size, [q for q in live if q not in failed],
                          self.args.ref_repeat)
                if size == "year":
                    run.rss_year = sampler.stop()
        return run


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--years", type=float, default=10.0, help="history to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--events-per-year", type=int, default=1_000_000)
    parser.add_argument("--store", type=Path, default=None,
                        help="store directory (default bench/.data/desktop-s<seed>-<years>y)")
    parser.add_argument("--sizes", default=",".join(SIZES), help="subset of " + ",".join(SIZES))
    parser.add_argument("--queries", default=",".join(QUERIES),
                        help="subset of " + ",".join(QUERIES))
    parser.add_argument("--peers", default="fastaw,reference")
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per cell (fastaw)")
    parser.add_argument("--ref-repeat", type=int, default=2, help="warm runs (reference)")
    parser.add_argument("--ref-max", default="year", choices=SIZES[:4],
                        help="largest size tried on the reference")
    parser.add_argument("--budget", type=float, default=90.0,
                        help="stop warm repeats of a cell after this many seconds")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per request")
    parser.add_argument("--workers", type=int, default=None, help="fastaw --workers")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds to wait after a server start before the first request")
    parser.add_argument("--hb-rate", type=float, default=50.0, help="heartbeats/s (0: off)")
    parser.add_argument("--hb-idle", type=float, default=5.0, help="idle heartbeat seconds")
    parser.add_argument("--hb-queries", type=int, default=3,
                        help="ten-year queries run during the heartbeat stream")
    parser.add_argument("--ref-python", default=None)
    parser.add_argument("--workdir", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    parser.add_argument("--section", default=SECTION)
    args = parser.parse_args(argv)
    args.sizes = [s for s in args.sizes.split(",") if s]
    args.queries = [q for q in args.queries.split(",") if q]
    args.peers = [p for p in args.peers.split(",") if p]
    for size in args.sizes:
        if size not in SIZES:
            parser.error(f"unknown size {size!r}")
    return args


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    Path(args.workdir).mkdir(parents=True, exist_ok=True)
    spec = Spec(seed=args.seed, years=args.years, events_per_year=args.events_per_year)
    store = args.store or (Path(__file__).resolve().parent / ".data" /
                           f"desktop-s{args.seed}-{args.years:g}y")
    data_note = ensure_store(spec, store, log)
    bench = Bench(args, spec)
    runs: list[PeerRun] = []
    started = time.perf_counter()
    if "fastaw" in args.peers:
        runs.append(bench.run_fastaw(store))
    if "reference" in args.peers:
        try:
            runs.append(bench.run_reference())
        except Exception as exc:
            runs.append(PeerRun("reference", failure=f"{type(exc).__name__}: {exc}"))
            log(f"reference failed: {exc}")
    from querybench_report import render

    text = render(argv, bench, runs, data_note, machine_info(), time.perf_counter() - started)
    print(text)
    if args.out:
        write_section(args.out, args.section, text)
        log(f"wrote section {args.section!r} of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

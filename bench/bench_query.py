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
import contextlib
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parent.parent))

from bench_http import (
    export_revision,
    fastaw_source,
    machine_busy_seconds,
    machine_info,
    tree_cpu_seconds,
    write_section,
)
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
from querybench_report import render

from fastaw.datagen import CHROME, FIREFOX, HttpSink, Spec, generate

SECTION = "Queries (bench/bench_query.py)"
HB_BUCKET = "aw-watcher-window_hb-bench"


def log(message: str) -> None:
    print(f"[bench_query {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class PeerRun:
    name: str
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    #: peak (VmRSS sum, RssAnon sum, Pss_Anon sum) in the year block
    rss_year: tuple[int, int, int] = (0, 0, 0)
    rss_query: tuple[int, int, int] = (0, 0, 0)  # … during the one-year Activity query requests
    rss_idle: int = 0
    hb_idle: Latencies | None = None
    hb_busy: Latencies | None = None
    hb_query_seconds: list[float] = field(default_factory=list)
    hb_contention: list[tuple[float, float]] = field(default_factory=list)  # idle, busy
    other_cpu: list[float] = field(default_factory=list)  # per request, CPU seconds
    busy_seconds: float = 0.0  # wall time of all the timed requests
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
        self.fastaw_src: Path | None = None
        self.root = 0  # pid of the running server (for its CPU time)
        self.sampler: RssSampler | None = None  # memory sampling of the year block

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
        busy, server, own = machine_busy_seconds(), tree_cpu_seconds(self.root), _own_cpu()
        marked = self.sampler is not None and query == "full" and size == "year"
        try:
            if marked and self.sampler:
                self.sampler.mark(True)
            try:
                seconds, body = self.request(client, query, size)
            finally:
                if marked and self.sampler:
                    self.sampler.mark(False)
            others = (machine_busy_seconds() - busy) - (tree_cpu_seconds(self.root) - server) \
                - (_own_cpu() - own)
            run.other_cpu.append(max(0.0, others))
            run.busy_seconds += seconds
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
             repeat: int, restart: Callable[[], Client] | None = None) -> Client:
        """Interleaved warm repeats; after a failure ``restart`` gives a fresh server."""
        spent = {q: 0.0 for q in queries}
        for _ in range(repeat):
            for query in queries:
                cell = run.cell(query, size)
                if cell.error or spent[query] > self.args.budget:
                    continue
                before = sum(cell.warm)
                if not self.measure(client, run, query, size, "warm") and restart:
                    client = restart()
                spent[query] += sum(cell.warm) - before
        return client

    # -- fastaw --------------------------------------------------------------------------
    @contextlib.contextmanager
    def fastaw_peer(self, store: Path) -> Iterator[Peer]:
        """A started fastaw on ``store``, stopped (process group killed) on exit."""
        config = Path(self.args.workdir) / "fastaw-bench.toml"
        config.write_text(f"query_timeout = {self.args.timeout:g}\n"
                          + "".join(f"{line}\n" for line in self.args.fastaw_config))
        extra = ["--data-dir", str(store), "--config", str(config)]
        peer = Peer(PeerConfig("fastaw", workers=self.args.workers, extra_args=extra,
                               fastaw_src=self.fastaw_src))
        with peer:  # starts it
            self.root = peer.proc.pid if peer.proc else 0
            time.sleep(self.args.settle)  # the server settles (query workers start on the first query)
            yield peer

    def run_fastaw(self, store: Path) -> PeerRun:
        run = PeerRun("fastaw")
        if self.args.hb_only:
            with self.fastaw_peer(store) as peer:
                self.heartbeats(peer, Client(peer.base_url, self.args.timeout), run)
            return run
        queries = [q for q in QUERIES if q in self.args.queries]
        for size in self.args.sizes:
            if "full" in queries and not self.args.keep_chunks:
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
                    self.sampler = sampler
                for query in queries:
                    self.measure(client, run, query, size, "cold")
                self.warm(client, run, size, queries, self.args.repeat)
                if size == "year":
                    run.rss_year = sampler.stop()
                    run.rss_query = sampler.marked
                    self.sampler = None
                if size == self.args.hb_size and "full" in queries and self.args.hb_rate > 0:
                    self.heartbeats(peer, client, run)
        return run

    def heartbeats(self, peer: Peer, client: Client, run: PeerRun) -> None:
        size = self.args.hb_size
        log(f"heartbeats at {self.args.hb_rate}/s: idle, then during the {size} query")
        with HeartbeatLoad(peer.base_url, HB_BUCKET, self.args.hb_rate) as load:
            idle_start = load.now()
            meter = Contention(self.root)
            time.sleep(self.args.hb_idle)
            run.hb_contention.append(meter.read())
            idle_end = busy_start = load.now()
            meter = Contention(self.root)
            windows = []
            for _ in range(self.args.hb_queries):
                start = load.now()
                try:
                    seconds, _ = client.query(self.queries["full"], self.periods[size])
                except Exception as exc:  # still a heavy query: the latencies count
                    seconds = load.now() - start
                    log(f"{size} query under heartbeats failed: {exc}")
                windows.append((start, load.now()))
                run.hb_query_seconds.append(seconds)
                if sum(run.hb_query_seconds) > self.args.budget:
                    break
            busy_end = load.now()
            run.hb_contention.append(meter.read())
        run.hb_idle = summarize(load.between(idle_start, idle_end))
        run.hb_busy = summarize([s for a, b in windows for s in load.between(a, b)])
        log(f"heartbeats idle p99 {run.hb_idle.p99_ms:.2f} ms, during the query "
            f"p99 {run.hb_busy.p99_ms:.2f} ms ({busy_end - busy_start:.1f} s)")

    # -- reference -----------------------------------------------------------------------
    def reference_peer(self, data_home: Path) -> Peer:
        """A started reference server on ``data_home``; the caller must `stop` it."""
        peer = ReferencePeer(PeerConfig("reference", ref_python=self.args.ref_python),
                             data_home)
        peer.start()
        self.root = peer.proc.pid if peer.proc else 0
        return peer

    def reference_data(self, sizes: list[str], run: PeerRun) -> Path:
        """The reference's data directory holding the last ``sizes[-1]`` of the history,
        loaded through its HTTP API once and reused while the spec is the same."""
        years = {"day": 1 / 365, "week": 7 / 365, "month": 31 / 365, "year": 1.0}[sizes[-1]]
        spec = self.spec
        load = Spec(seed=spec.seed, years=max(years, 2 / 365),
                    events_per_year=spec.events_per_year, end=spec.end,
                    utc_offset_minutes=spec.utc_offset_minutes, hostname=spec.hostname)
        home = Path(self.args.ref_data or Path(__file__).resolve().parent / ".data" /
                    f"reference-s{spec.seed}-{len(load.days)}d-{spec.end}")
        marker = home / "bench-ref.json"
        if marker.exists():
            saved = json.loads(marker.read_text())
        else:
            if home.exists():
                shutil.rmtree(home)
            home.mkdir(parents=True)
            peer = self.reference_peer(home)
            try:
                log(f"loading {len(load.days)} days into the reference over HTTP …")
                report = generate(load, HttpSink(load, peer.base_url), progress=True)
            finally:
                peer.stop()
            saved = {"days": len(load.days), "events": report.total,
                     "seconds": report.seconds, "date": time.strftime("%Y-%m-%d")}
            marker.write_text(json.dumps(saved))
        run.load_note = (f"the last {saved['days']} days of the same history, "
                         f"{saved['events']:,} events, loaded through its HTTP API in batches "
                         f"of 1000 in {saved['seconds']:.0f} s "
                         f"({saved['events'] / saved['seconds']:,.0f} events/s; on "
                         f"{saved['date']}, kept in `{home.name}` for later runs)")
        log(run.load_note)
        return home

    def run_reference(self) -> PeerRun:
        run = PeerRun("reference")
        sizes = [s for s in self.args.sizes if SIZES.index(s) <= SIZES.index(self.args.ref_max)]
        if not sizes:
            return run
        home = self.reference_data(sizes, run)
        queries = [q for q in QUERIES if q in self.args.queries]
        failed: set[str] = set()
        for size in sizes:
            live = [q for q in queries if q not in failed]
            if live:
                self.reference_size(home, size, live, failed, run)
        return run

    def reference_size(self, home: Path, size: str, live: list[str], failed: set[str],
                       run: PeerRun) -> None:
        """Every live query of one size on a fresh reference server."""
        peers = [self.reference_peer(home)]
        sampler = RssSampler(self.root)

        def restart() -> Client:
            # the reference keeps computing an abandoned request: start it afresh
            peers[-1].stop()
            peers.append(self.reference_peer(home))
            sampler.root = self.root
            return Client(peers[-1].base_url, self.args.timeout)

        try:
            client = Client(peers[-1].base_url, self.args.timeout)
            if size == "year":
                run.rss_idle = sampler.sample()[0]
                sampler.start()
                self.sampler = sampler
            for query in live:
                if not self.measure(client, run, query, size, "cold"):
                    failed.add(query)
                    client = restart()
            self.warm(client, run, size, [q for q in live if q not in failed],
                      self.args.ref_repeat, restart)
            if size == "year":
                run.rss_year = sampler.stop()
                run.rss_query = sampler.marked
        finally:
            self.sampler = None
            peers[-1].stop()


class ReferencePeer(Peer):
    """The reference server on a persistent data directory (``XDG_DATA_HOME``)."""

    def __init__(self, config: PeerConfig, data_home: Path) -> None:
        super().__init__(config)
        self.data_home = data_home

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        cmd, env, cwd = super().command()
        env["XDG_DATA_HOME"] = str(self.data_home)
        return cmd, env, cwd


class Contention:
    """What else wanted the CPU over a phase: cores used by processes other than the
    server and this benchmark, and the share of time some task waited for a CPU
    (``/proc/pressure/cpu``, "some")."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.start = (time.perf_counter(), machine_busy_seconds(), tree_cpu_seconds(root),
                      _own_cpu(), _cpu_pressure_us())

    def read(self) -> tuple[float, float]:
        wall, busy, server, own, stall = self.start
        elapsed = time.perf_counter() - wall
        others = (machine_busy_seconds() - busy) - (tree_cpu_seconds(self.root) - server) \
            - (_own_cpu() - own)
        return max(0.0, others) / elapsed, (_cpu_pressure_us() - stall) / 1e6 / elapsed


def _cpu_pressure_us() -> float:
    try:
        with open("/proc/pressure/cpu", encoding="ascii") as fh:
            some = fh.readline().split()
        return float(some[-1].split("=")[1])
    except (OSError, IndexError, ValueError):
        return float("nan")


def _own_cpu() -> float:
    """CPU seconds of this process and its reaped children (the heartbeat sender)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


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
    parser.add_argument("--fastaw-config", action="append", default=[], metavar="LINE",
                        help='an extra line of the fastaw config file, e.g. '
                             '\'durability = "process"\' (repeatable)')
    parser.add_argument("--fastaw-src", default=None, metavar="DIR",
                        help="run the fastaw package found in DIR (experiments)")
    parser.add_argument("--fastaw-rev", default=None,
                        help="benchmark the fastaw package of this git revision (default: "
                             "the work tree)")
    parser.add_argument("--settle", type=float, default=3.0,
                        help="seconds to wait after a server start before the first request")
    parser.add_argument("--hb-rate", type=float, default=50.0, help="heartbeats/s (0: off)")
    parser.add_argument("--hb-idle", type=float, default=5.0, help="idle heartbeat seconds")
    parser.add_argument("--keep-chunks", action="store_true",
                        help="skip the 'cold, no chunks' runs, which empty the store's "
                             "column-chunk cache (A/B runs on a store whose chunks are built)")
    parser.add_argument("--hb-only", action="store_true",
                        help="fastaw only: just the heartbeat test (on the chunks as they are)")
    parser.add_argument("--hb-size", default="10y", choices=SIZES,
                        help="the Activity query run under heartbeats (default 10y)")
    parser.add_argument("--hb-queries", type=int, default=3,
                        help="ten-year queries run during the heartbeat stream")
    parser.add_argument("--ref-python", default=None)
    parser.add_argument("--ref-data", default=None,
                        help="the reference's data directory (default "
                             "bench/.data/reference-s<seed>-<days>d-<end>)")
    parser.add_argument("--workdir", default=str(Path(__file__).resolve().parent / "out"))
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    parser.add_argument("--section", default=SECTION)
    parser.add_argument("--note", default="", help="a status note printed at the top")
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
    source = fastaw_source(args)
    if "fastaw" in args.peers:
        with tempfile.TemporaryDirectory(prefix="bench-query-") as tmp:
            if args.fastaw_rev:
                bench.fastaw_src = export_revision(args.fastaw_rev, Path(tmp) / "src")
            elif args.fastaw_src:
                bench.fastaw_src = Path(args.fastaw_src)
                source = f"source tree {args.fastaw_src}"
            runs.append(bench.run_fastaw(store))
    if "reference" in args.peers:
        try:
            runs.append(bench.run_reference())
        except Exception as exc:
            runs.append(PeerRun("reference", failure=f"{type(exc).__name__}: {exc}"))
            log(f"reference failed: {exc}")
    text = render(argv, bench, runs, data_note, [*machine_info(), f"fastaw: {source}"],
                  time.perf_counter() - started)
    print(text)
    if args.out:
        write_section(args.out, args.section, text)
        log(f"wrote section {args.section!r} of {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A/B of `fastaw import` throughput between source revisions, runs interleaved.

On a shared machine a figure moves by ±20 % between runs of the same code, so two versions
are compared in one session, run after run: every repetition imports each export once
with every revision (round-robin), each import in a fresh interpreter whose ``fastaw``
is that revision's (``git archive REV fastaw``; ``WORKTREE`` is the working tree), as
`bench_exchange.import_into` does it (`fastaw.exchange.prepare_import`, then one writer
operation; large files pipelined). The history and its exports are generated once, as
bench_exchange.py generates them (same seed: same data). ``--file`` adds any other file
(say a year of window events written by ``fastaw export``); ``--http`` imports every file
with ``POST /api/0/import`` into a fresh ``fastaw serve`` of that revision instead (the
time of the request; the server's private memory, RssAnon of its process tree, sampled).

Usage::

    .venv/bin/python bench/bench_import_ab.py 40021e8 WORKTREE --repeat 7 --formats json
    .venv/bin/python bench/bench_import_ab.py HEAD WORKTREE --formats json --file /tmp/y.json --http
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: One import in a fresh interpreter: argv = tree, export file, store directory.
_CHILD = """
import json, resource, shutil, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from fastaw.exchange import prepare_import
from fastaw.storage import Env, Writer

def children_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime

store = Path(sys.argv[3])
shutil.rmtree(store, ignore_errors=True)
env = Env(store)
writer = Writer(env)
writer.start()
try:
    started, cpu, child = time.perf_counter(), time.process_time(), children_cpu()
    staged = prepare_import(Path(sys.argv[2]), spool_dir=store)
    summary = writer.run_sync(staged.apply)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    staged.close()
    child = children_cpu() - child
finally:
    writer.stop()
    env.close()
print(json.dumps({"seconds": seconds, "cpu": cpu, "child": child,
                  "events": summary.events_imported}))
"""


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def tree_of(rev: str, work: Path) -> Path:
    if rev == "WORKTREE":
        return ROOT
    # by commit, not by name: a kept work directory must not serve an old "HEAD"
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short=12", rev],
                         check=True, capture_output=True, text=True).stdout.strip()
    tree = work / f"tree-{rev}"
    if not tree.exists():
        tree.mkdir(parents=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "fastaw"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def make_exports(work: Path, events: int, seed: int, formats: list[str]) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    import bench_exchange as bench

    from fastaw.storage import Env

    missing = [fmt for fmt in formats if not (work / f"export.{fmt}").exists()]
    if not missing:
        return
    store = work / "store"
    shutil.rmtree(store, ignore_errors=True)
    bench.make_store(store, events, seed)
    env = Env(store, readonly=True)
    for fmt in missing:
        bench.export_to(env, fmt, work / f"export.{fmt}")
    env.close()


def http_run(tree: Path, path: Path) -> dict[str, float]:
    """POST one file to a fresh server running ``tree``'s fastaw; seconds and memory."""
    sys.path.insert(0, str(ROOT / "bench"))
    import httpx
    from bench_exchange import RssSampler
    from peers import Peer, PeerConfig

    def body() -> Iterator[bytes]:
        with open(path, "rb") as stream:
            while block := stream.read(1 << 20):
                yield block

    with Peer(PeerConfig("fastaw", fastaw_src=tree), ready_timeout=120) as peer:
        assert peer.proc is not None
        started = time.perf_counter()
        with RssSampler(peer.proc.pid) as rss:
            response = httpx.post(f"{peer.base_url}/api/0/import", content=body(),
                                  timeout=3600, headers={
                                      "content-type": "application/json",
                                      "content-length": str(path.stat().st_size)})
        seconds = time.perf_counter() - started
        response.raise_for_status()
    return {"seconds": seconds, "cpu": 0.0, "child": 0.0,
            "events": response.json()["events_imported"],
            "anon_before": rss.anon_before / 2**20, "anon_peak": rss.anon_peak / 2**20}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("revs", nargs="+", help="git revisions, or WORKTREE")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--formats", default="json", help="comma-separated: json,ndjson,parquet")
    parser.add_argument("--seed", type=int, default=20240101)
    parser.add_argument("--keep", type=Path, default=None, help="keep generated data here")
    parser.add_argument("--file", type=Path, action="append", default=[],
                        help="also import this file (repeatable)")
    parser.add_argument("--http", action="store_true", help="POST /api/0/import to a server")
    args = parser.parse_args(argv)
    formats = [fmt for fmt in args.formats.split(",") if fmt]
    work = args.keep or Path(tempfile.mkdtemp(prefix="bench-import-ab-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        trees = {rev: tree_of(rev, work) for rev in args.revs}
        make_exports(work, args.events, args.seed, formats)
        sources = {fmt: work / f"export.{fmt}" for fmt in formats}
        sources.update({str(path): path for path in args.file})
        runs: dict[tuple[str, str], list[dict[str, float]]] = {}
        loads = [load()]
        print(f"start {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}, load {loads[0]}",
              file=sys.stderr)
        for _ in range(args.repeat):
            for fmt, source in sources.items():
                for rev, tree in trees.items():
                    if args.http:
                        result = http_run(tree, source)
                    else:
                        out = subprocess.run(
                            [sys.executable, "-c", _CHILD, str(tree), str(source),
                             str(work / "imported")], check=True, capture_output=True, text=True)
                        result = json.loads(out.stdout.strip().splitlines()[-1])
                    runs.setdefault((fmt, rev), []).append(result)
                    print(f"{fmt} {rev}: {result}", file=sys.stderr)
            loads.append(load())
        if args.http:
            print("| source (HTTP) | revision | total s | events/s | private MiB before → "
                  "peak | total s of each run |\n|---|---|---:|---:|---:|---|")
        else:
            print("| source | revision | total s | events/s | CPU s (writer + reader) | "
                  "total s of each run |\n|---|---|---:|---:|---:|---|")
        for (fmt, rev), results in runs.items():
            seconds = statistics.median(r["seconds"] for r in results)
            each = ", ".join(f"{r['seconds']:.2f}" for r in results)
            rate = f"{results[0]['events'] / seconds:,.0f}"
            if args.http:
                before = statistics.median(r["anon_before"] for r in results)
                peak = statistics.median(r["anon_peak"] for r in results)
                middle = f"{before:.0f} → {peak:.0f}"
            else:
                cpu = statistics.median(r["cpu"] for r in results)
                child = statistics.median(r["child"] for r in results)
                middle = f"{cpu:.2f} + {child:.2f}"
            print(f"| {fmt} | {rev} | {seconds:.2f} | {rate} | {middle} | {each} |")
        print(f"\nload averages (1, 5, 15 min) after each round: {'; '.join(loads)}")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Helpers of `bench_query.py`: periods, an HTTP client that times whole responses, the
generated store, the chunk cache reset, RSS sampling and result summaries."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import statistics
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from peers import proc_pss_anon_kib, proc_status_kib, process_tree

from fastaw.datagen import Spec, StoreSink, generate
from fastaw.datagen.schedule import is_workday
from fastaw.storage import Env, Reader

SIZES: Final = ("day", "week", "month", "year", "10y")
QUERIES: Final = ("full", "apps", "get")
QUERY_TITLES: Final = {
    "full": "Activity view (fullDesktopQuery, categories)",
    "apps": "merge by app",
    "get": "GET window events",
}
MARKER: Final = "bench-spec.json"


# -- periods --------------------------------------------------------------------------------

def _months_back(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - months
    return dt.date(index // 12, index % 12 + 1, 1) if day.day == 1 else \
        day.replace(year=index // 12, month=index % 12 + 1)


def periods_of(spec: Spec) -> dict[str, str]:
    """``start/end`` timeperiods (local time with offset) of each size, ending at the end."""
    tz = dt.timezone(dt.timedelta(minutes=spec.utc_offset_minutes))
    end = spec.end
    day = end - dt.timedelta(days=1)
    while not is_workday(spec.seed, day.toordinal()):
        day -= dt.timedelta(days=1)
    starts = {
        "day": day,
        "week": end - dt.timedelta(days=7),
        "month": _months_back(end, 1),
        "year": _months_back(end, 12),
        "10y": _months_back(end, 120),
    }

    def stamp(d: dt.date) -> str:
        return dt.datetime(d.year, d.month, d.day, tzinfo=tz).isoformat()

    ends = {size: end for size in SIZES}
    ends["day"] = day + dt.timedelta(days=1)
    return {size: f"{stamp(starts[size])}/{stamp(ends[size])}" for size in SIZES}


# -- HTTP -------------------------------------------------------------------------------------

class Client:
    """Times each request from sending it to the last byte of the reply (new connection
    per request, so a timed-out request never poisons the next one)."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.netloc = urllib.parse.urlsplit(base_url).netloc
        self.timeout = timeout

    def _request(self, method: str, path: str, body: bytes | None = None,
                 count: bytes | None = None) -> tuple[float, bytes]:
        conn = http.client.HTTPConnection(self.netloc, timeout=self.timeout)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            started = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            if count is None or response.status != 200:
                data = response.read()
            else:  # stream huge event lists: count events instead of keeping the bytes
                found = size = 0
                tail = b""
                while chunk := response.read(1 << 20):
                    size += len(chunk)
                    window = tail + chunk
                    found += window.count(count)
                    tail = window[-(len(count) - 1):]  # too short to hold a whole match
                data = json.dumps({"count": found, "bytes": size}).encode()
            seconds = time.perf_counter() - started
        finally:
            conn.close()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}: {data[:200]!r}")
        return seconds, data

    def query(self, lines: list[str], period: str) -> tuple[float, bytes]:
        body = json.dumps({"query": lines, "timeperiods": [period]}).encode()
        return self._request("POST", "/api/0/query/", body)

    def get_events(self, bucket_id: str, period: str) -> tuple[float, bytes]:
        start, end = period.split("/")
        params = urllib.parse.urlencode({"start": start, "end": end})
        return self._request("GET", f"/api/0/buckets/{bucket_id}/events?{params}",
                             count=b'"timestamp":')


# -- results ----------------------------------------------------------------------------------

@dataclass
class Cell:
    """The timings of one (peer, query, size)."""

    nochunks: float | None = None
    cold: float | None = None
    warm: list[float] = field(default_factory=list)
    error: str = ""
    summary: dict[str, Any] = field(default_factory=dict)
    bytes: int = 0

    def record(self, kind: str, seconds: float) -> None:
        if kind == "warm":
            self.warm.append(seconds)
        else:
            setattr(self, kind, seconds)

    @property
    def warm_median(self) -> float | None:
        return statistics.median(self.warm) if self.warm else None


def _names(events: list[dict[str, Any]], key: str, n: int = 5) -> list[str]:
    return [str(e["data"].get(key)) for e in events[:n]]


def summary_of(query: str, body: bytes) -> dict[str, Any]:
    """A few facts of a reply to compare between servers."""
    value = json.loads(body)
    if query == "get":
        return {"events": value["count"]}
    result = value[0]
    if query == "apps":
        return {"apps": len(result), "top": _names(result, "app"),
                "duration": round(sum(e["duration"] for e in result), 3)}
    window, browser = result["window"], result["browser"]
    return {"duration": round(window["duration"], 3),
            "browser_duration": round(browser["duration"], 3),
            "top": _names(window["app_events"], "app"),
            "categories": _names(window["cat_events"], "$category", 3),
            "active_events": len(window["active_events"])}


# -- the store --------------------------------------------------------------------------------

def _spec_key(spec: Spec) -> dict[str, Any]:
    return {"seed": spec.seed, "years": spec.years, "events_per_year": spec.events_per_year,
            "end": spec.end.isoformat(), "utc_offset_minutes": spec.utc_offset_minutes,
            "hostname": spec.hostname, "browsers": spec.browsers, "editor": spec.editor}


def _store_bytes(store: Path) -> int:
    return sum(p.stat().st_size for p in store.iterdir() if p.is_file())


def ensure_store(spec: Spec, store: Path, log: Callable[[str], None]) -> str:
    """Generate the spec's history into ``store`` unless it is there; a note on the data."""
    marker = store / MARKER
    if marker.exists():
        saved = json.loads(marker.read_text())
        if saved.get("spec") != _spec_key(spec):
            raise SystemExit(f"{store} holds another history ({saved.get('spec')}); "
                             "remove it or pass --store")
    elif store.exists() and any(store.iterdir()):
        env = Env(store)
        try:
            reader = Reader(env)
            counts = {b.id: reader.count(b.id) for b in reader.bucket_list()}
        finally:
            env.close()
        if set(counts) != {spec.bucket_id(b) for b in spec.buckets}:
            raise SystemExit(f"{store} is not a generated history of this spec")
        saved = {"spec": _spec_key(spec), "events": counts, "seconds": None}
        marker.write_text(json.dumps(saved, indent=1))
    else:
        log(f"generating {spec.years:g} years of history into {store} …")
        report = generate(spec, StoreSink(spec, store), progress=True)
        saved = {"spec": _spec_key(spec), "seconds": report.seconds,
                 "events": {spec.bucket_id(b): report.events[b.key] for b in spec.buckets}}
        marker.write_text(json.dumps(saved, indent=1))
        log(report.summary())
    total = sum(saved["events"].values())
    parts = ", ".join(f"`{k}` {v:,}" for k, v in saved["events"].items())
    speed = (f"; generated straight into the store in {saved['seconds']:.0f} s "
             f"({total / saved['seconds']:,.0f} events/s)" if saved.get("seconds") else "")
    return (f"{spec.years:g} years ending {spec.end} (seed {spec.seed}, host "
            f"`{spec.hostname}`): {total:,} events — {parts}; store "
            f"{_store_bytes(store) / 2**30:.1f} GiB{speed}")


def clear_chunks(store: Path) -> None:
    """Empty the column-chunk cache of a store (no server may be running on it)."""
    env = Env(store)
    try:
        with env.lmdb.begin(write=True) as txn:
            txn.drop(env.chunks, delete=False)
    finally:
        env.close()


# -- memory -----------------------------------------------------------------------------------

def _larger(a: tuple[int, int, int], b: tuple[int, int, int]) -> tuple[int, int, int]:
    """Each measure's larger value."""
    return max(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2])


class RssSampler:
    """Peak sums over a process tree of VmRSS, of RssAnon and of Pss_Anon (bytes), sampled
    every 50 ms: over the whole time it runs (`peak`) and over the marked stretches only
    (`marked`).

    RssAnon counts a page that processes share copy-on-write (Granian forks its HTTP
    workers from its main process) once in each of them; Pss_Anon divides it among them,
    so its sum counts each page once."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peak = (0, 0, 0)
        self.marked = (0, 0, 0)
        self._mark = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample(self) -> tuple[int, int, int]:
        pids = process_tree(self.root) if self.root and os.path.exists(f"/proc/{self.root}") \
            else []
        rss = sum(proc_status_kib(pid, "VmRSS") for pid in pids) * 1024
        anon = sum(proc_status_kib(pid, "RssAnon") for pid in pids) * 1024
        pss = sum(proc_pss_anon_kib(pid) for pid in pids) * 1024
        return rss, anon, pss

    def _take(self) -> None:
        now = self.sample()
        self.peak = _larger(self.peak, now)
        if self._mark:
            self.marked = _larger(self.marked, now)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._take()
            self._stop.wait(self.interval)

    def mark(self, on: bool) -> None:
        """Start or end a marked stretch (sampled at both ends too)."""
        if on:
            self._mark = True
            self._take()
        else:
            self._take()
            self._mark = False

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> tuple[int, int, int]:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        return self.peak

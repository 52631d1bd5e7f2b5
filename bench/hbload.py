"""A steady stream of heartbeats from a separate process, with per-request latencies.

`HeartbeatLoad` starts a process that sends ``POST /api/0/buckets/<id>/heartbeat`` at a
fixed rate (open loop: request *i* is due at ``t0 + i / rate``; when a reply is late the
next request goes out at once, so a stall shows up in the latencies instead of silently
lowering the rate) over one keep-alive connection, like a watcher. The data alternates
every few seconds between two windows, timestamps are the wall clock, ``pulsetime`` is 2 s:
mostly merges, sometimes inserts, as aw-watcher-window does. Latency = time from sending
the request to reading the whole reply; "lateness" = time from the scheduled moment to the
reply (includes waiting for the previous reply).

Usage::

    with HeartbeatLoad(base_url, bucket_id, rate=50) as load:
        mark = load.now()
        ...  # run something heavy
        samples = load.between(mark, load.now())
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import multiprocessing
import multiprocessing.connection
import statistics
import time
import urllib.parse
from dataclasses import dataclass
from types import TracebackType
from typing import Any

# (scheduled, sent, done) as time.time() floats, and the HTTP status (0: error)
Sample = tuple[float, float, float, int]


def _run(url: str, bucket_id: str, rate: float, stop: Any, out: Any) -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    path = f"/api/0/buckets/{urllib.parse.quote(bucket_id)}/heartbeat?pulsetime=2"
    headers = {"Content-Type": "application/json"}
    samples: list[Sample] = []
    t0 = time.time()
    i = 0
    while not stop.is_set():
        due = t0 + i / rate
        pause = due - time.time()
        if pause > 0:
            time.sleep(pause)
        window = "editor" if (i // int(rate * 4)) % 2 else "terminal"
        stamp = dt.datetime.now(dt.UTC).isoformat()
        body = json.dumps({"timestamp": stamp, "duration": 0,
                           "data": {"app": window, "title": f"heartbeat load ({window})"}})
        sent = time.time()
        try:
            conn.request("POST", path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except (OSError, http.client.HTTPException):
            status = 0
            conn.close()
            conn = http.client.HTTPConnection(parts.netloc, timeout=30)
        samples.append((due, sent, time.time(), status))
        i += 1
    conn.close()
    out.send(samples)
    out.close()


def create_bucket(url: str, bucket_id: str) -> None:
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=30)
    body = json.dumps({"client": "bench-heartbeats", "type": "currentwindow",
                       "hostname": "bench-heartbeats"})
    conn.request("POST", f"/api/0/buckets/{urllib.parse.quote(bucket_id)}", body=body,
                 headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status not in (200, 304):
        raise RuntimeError(f"cannot create bucket {bucket_id}: HTTP {response.status}")


@dataclass
class Latencies:
    count: int
    errors: int
    rate: float  # requests per second actually completed
    p50_ms: float
    p99_ms: float
    max_ms: float
    late_p99_ms: float  # scheduled → done, p99

    def row(self) -> str:
        return (f"{self.count} | {self.rate:.0f} | {self.p50_ms:.2f} | {self.p99_ms:.2f} | "
                f"{self.max_ms:.1f} | {self.late_p99_ms:.2f} | {self.errors}")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summarize(samples: list[Sample]) -> Latencies:
    if not samples:
        return Latencies(0, 0, 0.0, *(float("nan"),) * 4)
    ok = [s for s in samples if s[3] == 200]
    latency = [(done - sent) * 1000 for _, sent, done, _ in ok]
    late = [(done - due) * 1000 for due, _, done, _ in ok]
    span = max(s[2] for s in samples) - min(s[0] for s in samples)
    return Latencies(len(samples), len(samples) - len(ok), len(samples) / span if span else 0.0,
                     statistics.median(latency) if latency else float("nan"),
                     percentile(latency, 99), max(latency, default=float("nan")),
                     percentile(late, 99))


class HeartbeatLoad:
    """Heartbeats at ``rate``/s from a child process while the ``with`` block runs."""

    def __init__(self, url: str, bucket_id: str, rate: float = 50.0) -> None:
        self.url = url
        self.bucket_id = bucket_id
        self.rate = rate
        context = multiprocessing.get_context("spawn")
        self._stop = context.Event()
        self._recv, send = context.Pipe(duplex=False)
        self._process = context.Process(target=_run, daemon=True,
                                        args=(url, bucket_id, rate, self._stop, send))
        self._send = send
        self.samples: list[Sample] = []

    def __enter__(self) -> HeartbeatLoad:
        create_bucket(self.url, self.bucket_id)
        self._process.start()
        self._send.close()
        time.sleep(1.0)  # let the stream settle
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._recv.poll(60):
            self.samples = self._recv.recv()
        self._process.join(10)
        if self._process.is_alive():
            self._process.kill()

    @staticmethod
    def now() -> float:
        return time.time()

    def between(self, start: float, end: float) -> list[Sample]:
        """Samples whose request was sent in ``[start, end]`` (after the block ends)."""
        return [s for s in self.samples if start <= s[1] <= end]

"""Crash durability: ``kill -9`` a live server (every process of its group) while writes are
in flight, restart it on the same store, and check that nothing it acknowledged is gone.

Per round: writer threads send heartbeats whose data changes now and then (so they both
create and extend events) and batches of inserts, recording every 200 answer; at a random
instant the process group gets SIGKILL. Afterwards:
* every acknowledged insert is present, exactly;
* every acknowledged heartbeat's returned event is present (same id, start and data) with
  at least the acknowledged duration;
* an insert batch that was sent but not answered is all there or not at all (atomic);
* the store's own check (`fastaw check`) finds it consistent right after each crash, the
  server restarts on it, and after a clean stop an independent walk of the rows confirms
  the invariants stated in `fastaw.storage.rows`.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from fastaw.models import BucketStats
from fastaw.storage import Env, keys
from fastaw.storage.maintenance import check
from fastaw.storage.rows import decode_bucket
from fastaw.timefmt import format_ns
from tests.conftest import LiveServer
from tests.live_helpers import NS, group_alive, wire

T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z
BUCKET = {"client": "durability", "type": "test", "hostname": "host"}

StartServer = Callable[..., LiveServer]


@dataclass
class Ledger:
    """What the writers sent and what the server acknowledged, across rounds."""

    heartbeats: list[dict[str, Any]] = field(default_factory=list)  # acknowledged results
    inserts: list[dict[str, Any]] = field(default_factory=list)  # acknowledged events
    unanswered: list[list[dict[str, Any]]] = field(default_factory=list)  # batches in flight
    clocks: dict[str, int] = field(default_factory=dict)  # per bucket: last timestamp sent
    lock: threading.Lock = field(default_factory=threading.Lock)


def _writer(url: str, bucket: str, ledger: Ledger, seed: int, mode: str) -> None:
    """Write until the server disappears: heartbeats ("hb"), insert batches ("ins") or both."""
    rng = random.Random(seed)
    now = ledger.clocks.get(bucket, T0)
    label = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        while True:
            now += rng.choice((1, 2, 3)) * NS // 2
            heartbeat = mode == "hb" or (mode == "both" and rng.random() < 0.7)
            if heartbeat:
                if rng.random() < 0.15:
                    label += 1
                body: Any = wire(now, rng.choice((0, NS // 4)), {"label": label, "b": bucket})
                path = f"/api/0/buckets/{bucket}/heartbeat"
                params = {"pulsetime": 1.0}
            else:
                batch = f"{rng.getrandbits(64):016x}"  # unique across rounds
                body = [wire(now + k * NS // 100, NS // 200, {"batch": batch, "k": k})
                        for k in range(rng.randint(1, 40))]
                path, params = f"/api/0/buckets/{bucket}/events", {}
            ledger.clocks[bucket] = now + NS
            try:
                response = client.post(path, params=params, json=body)
            except httpx.HTTPError:
                if not heartbeat:
                    with ledger.lock:
                        ledger.unanswered.append(body)
                return
            assert response.status_code == 200, response.text
            with ledger.lock:
                if heartbeat:
                    ledger.heartbeats.append(response.json())
                else:
                    returned = response.json()
                    assert len(returned) == len(body)
                    ledger.inserts.extend(returned)


def crash_round(server: LiveServer, ledger: Ledger, *, rng: random.Random,
                buckets: list[str], max_wait: float) -> float:
    """Write concurrently, SIGKILL the server's group at a random instant; the kill time."""
    with httpx.Client(base_url=server.url) as client:
        for bucket in buckets:
            assert client.post(f"/api/0/buckets/{bucket}", json=BUCKET).status_code in (200, 304)
    modes = ["hb", "ins", "both"]
    threads = [
        threading.Thread(target=_writer, daemon=True,
                         args=(server.url, bucket, ledger, rng.randrange(1 << 30),
                               modes[i % len(modes)]))
        for i, bucket in enumerate(buckets)
    ]
    before = len(ledger.heartbeats) + len(ledger.inserts)
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(ledger.heartbeats) + len(ledger.inserts) < before + 10:  # writes are flowing
        assert time.monotonic() < deadline, "no write was acknowledged"
        time.sleep(0.005)
    delay = rng.uniform(0, max_wait)
    time.sleep(delay)
    os.killpg(server.process.pid, signal.SIGKILL)
    server.process.wait(timeout=30)
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive()
    assert not group_alive(server.process.pid, grace=10), "a process survived SIGKILL"
    return delay


def check_acknowledged(url: str, ledger: Ledger, buckets: list[str]) -> None:
    if not (ledger.heartbeats or ledger.inserts):
        return
    stored: dict[int, dict[str, Any]] = {}
    with httpx.Client(base_url=url, timeout=60) as client:
        for bucket in buckets:
            response = client.get(f"/api/0/buckets/{bucket}/events")
            assert response.status_code == 200, response.text
            for event in response.json():
                assert event["id"] not in stored, f"id {event['id']} listed twice"
                stored[event["id"]] = event
    for acked in ledger.inserts:
        assert stored.get(acked["id"]) == acked, f"acknowledged insert lost or changed: {acked}"
    for acked in ledger.heartbeats:
        found = stored.get(acked["id"])
        assert found is not None, f"acknowledged heartbeat lost: {acked}"
        assert (found["timestamp"], found["data"]) == (acked["timestamp"], acked["data"])
        assert found["duration"] >= acked["duration"], (found, acked)
    by_marker = {(e["data"]["batch"], e["data"]["k"]) for e in stored.values()
                 if "batch" in e["data"]}
    for batch in ledger.unanswered:
        present = [(e["data"]["batch"], e["data"]["k"]) in by_marker for e in batch]
        assert all(present) or not any(present), f"batch half-written: {present}"


def check_store(data_dir: Path) -> int:
    """Open the store in-process and verify the row invariants; the number of events."""
    env = Env(data_dir)
    try:
        with env.read() as txn:
            buckets: dict[int, str] = {}
            for name, raw in txn.cursor(db=env.buckets):
                bucket = decode_bucket(bytes(raw))
                assert bucket.id == bytes(name).decode()
                buckets[bucket.num] = bucket.id
            per_bucket: dict[int, list[tuple[int, int]]] = {num: [] for num in buckets}
            max_id = 0
            for key, value in txn.cursor(db=env.events):
                num, start, event_id = keys.split_event_key(bytes(key))
                assert num in per_bucket, f"event {event_id} of unknown bucket {num}"
                assert txn.get(keys.id_key(event_id), db=env.ids) == bytes(key)[:12]
                duration = keys.value_duration(bytes(value))
                rendered = msgspec.json.decode(bytes(value)[keys.VALUE_HEADER_SIZE:])
                assert rendered["id"] == event_id and rendered["timestamp"] == format_ns(start)
                per_bucket[num].append((start, duration))
                max_id = max(max_id, event_id)
            ids = sum(1 for _ in txn.cursor(db=env.ids))
            assert ids == sum(len(v) for v in per_bucket.values())
            next_id = txn.get(b"next_id", db=env.meta)
            assert next_id is None or keys.read_u64(bytes(next_id)) > max_id
            for num, rows in per_bucket.items():
                raw = txn.get(keys.u32(num), db=env.stats)
                stats = msgspec.msgpack.decode(bytes(raw), type=BucketStats) if raw else None
                assert stats is not None, f"bucket {buckets[num]} has no stats"
                assert stats.count == len(rows), (buckets[num], stats)
                if rows:
                    assert stats.max_duration >= max(d for _, d in rows)
                    assert stats.min_duration <= min(d for _, d in rows)
                    assert stats.end == max(s + d for s, d in rows), (buckets[num], stats)
                else:
                    assert stats.end is None
            return ids
    finally:
        env.close()


def run_rounds(live_server: StartServer, tmp_path: Path, *, rounds: int, workers: int,
               max_wait: float, seed: int) -> Ledger:
    rng = random.Random(seed)
    data_dir = tmp_path / "store"
    buckets = [f"crash-{i}" for i in range(6)]
    ledger = Ledger()
    for _ in range(rounds):
        # (re)start on the crashed store: everything acknowledged so far must be there
        server = live_server(workers=workers, data_dir=data_dir)
        check_acknowledged(server.url, ledger, buckets)
        crash_round(server, ledger, rng=rng, buckets=buckets, max_wait=max_wait)
        env = Env(data_dir, readonly=True)  # right after the crash, stale lock file and all
        try:
            report = check(env)
        finally:
            env.close()
        assert report.ok, report.problems
    checked = subprocess.run([sys.executable, "-m", "fastaw", "check", str(data_dir)],
                             capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    server = live_server(workers=workers, data_dir=data_dir)
    check_acknowledged(server.url, ledger, buckets)
    assert server.stop() == 0
    assert check_store(data_dir) >= len(ledger.inserts)
    assert ledger.heartbeats and ledger.inserts
    return ledger


def test_kill_9_keeps_every_acknowledged_write(live_server: StartServer, tmp_path: Path) -> None:
    seed = int(os.environ.get("FASTAW_DURABILITY_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    ledger = run_rounds(live_server, tmp_path, rounds=3, workers=2, max_wait=0.8, seed=seed)
    print(f"acknowledged: {len(ledger.heartbeats)} heartbeats, {len(ledger.inserts)} events "
          f"inserted; {len(ledger.unanswered)} insert batches in flight at a kill")


@pytest.mark.slow
@pytest.mark.parametrize("durability", ["full", "process"])
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_kill_9_many_rounds(live_server: StartServer, tmp_path: Path, workers: int,
                            durability: str) -> None:
    """The long variant; ``durability = "process"`` (no fsync) must survive a process
    crash as well — only a power loss may cost it writes."""
    seed = int(os.environ.get("FASTAW_DURABILITY_SEED", random.randrange(1 << 30)))
    print(f"seed {seed}")
    config = tmp_path / "fastaw.toml"
    config.write_text(f'durability = "{durability}"\n')
    original = live_server

    def with_config(**kwargs: Any) -> LiveServer:
        return original(extra=["--config", str(config)], **kwargs)

    run_rounds(with_config, tmp_path, rounds=12, workers=workers, max_wait=3.0, seed=seed)

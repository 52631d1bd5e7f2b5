"""A real Granian server (`fastaw serve`, 1 and 2 workers) over real sockets.

Covers what only a live process shows: several worker processes writing one store
(concurrent heartbeats equal sequential ones, ids unique), the startup banner, refusing a
busy port, clean shutdown on SIGINT/SIGTERM with every acknowledged write kept, testing
mode, the config file and aw-server-rust's API key.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastaw.config import DEFAULT_PORT, TESTING_PORT, load
from tests.conftest import LiveServer, free_port
from tests.live_helpers import (
    NS,
    Serve,
    child_pids,
    group_alive,
    iso,
    sequential_heartbeats,
    shapes,
    to_ns,
    wire,
    worker_connections,
)

T0 = 1_704_067_200 * NS  # 2024-01-01T00:00:00Z
BUCKET = {"client": "test", "type": "test", "hostname": "host"}

StartServer = Callable[..., LiveServer]
Spawn = Callable[..., Serve]


@pytest.fixture
def http() -> Iterator[Callable[[str], httpx.Client]]:
    """Factory of keep-alive clients (closed at teardown)."""
    made: list[httpx.Client] = []

    def factory(base_url: str) -> httpx.Client:
        client = httpx.Client(base_url=base_url, timeout=30)
        made.append(client)
        return client

    yield factory
    for client in made:
        client.close()


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Factory of `Serve` processes (custom command lines), stopped at teardown."""
    made: list[Serve] = []

    def factory(args: list[str], **kwargs: Any) -> Serve:
        proc = Serve(args, **kwargs)
        made.append(proc)
        return proc

    yield factory
    for proc in made:
        proc.stop(signal.SIGKILL)


def create(client: httpx.Client, bucket_id: str) -> None:
    response = client.post(f"/api/0/buckets/{bucket_id}", json=BUCKET)
    assert response.status_code == 200, response.text


def events_of(client: httpx.Client, bucket_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/api/0/buckets/{bucket_id}/events")
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def beat(client: httpx.Client, bucket_id: str, start: int, duration: int,
         data: dict[str, Any], pulsetime: float) -> dict[str, Any]:
    response = client.post(f"/api/0/buckets/{bucket_id}/heartbeat",
                           params={"pulsetime": pulsetime}, json=wire(start, duration, data))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def spread_clients(server: LiveServer, http: Callable[[str], httpx.Client], n: int,
                   workers: int) -> list[httpx.Client]:
    """``n`` keep-alive clients, each already connected; with several workers, make sure
    every worker holds at least one of the connections (so writes really come from all)."""
    clients = []
    for _ in range(n):
        client = http(server.url)
        assert client.get("/api/0/info").status_code == 200
        clients.append(client)
    if workers > 1 and Path("/proc/net/tcp").exists():
        counts = worker_connections(server.process.pid, server.port)
        assert len(counts) == workers, counts
        assert all(counts.values()), f"a worker got no connection: {counts}"
    return clients


# -- basic endpoints ---------------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_basic_endpoints(live_server: StartServer, http: Callable[[str], httpx.Client],
                         workers: int) -> None:
    server = live_server(workers=workers)
    c = http(server.url)
    info = c.get("/api/0/info").json()
    assert info["testing"] is False and info["hostname"] and info["device_id"]

    assert c.get("/api/0/buckets/").json() == {}
    create(c, "b1")
    assert c.post("/api/0/buckets/b1", json=BUCKET).status_code == 304
    assert set(c.get("/api/0/buckets").json()) == {"b1"}
    assert c.get("/api/0/buckets/b1").json()["type"] == "test"

    inserted = c.post("/api/0/buckets/b1/events",
                      json=[wire(T0, NS, {"a": 1}), wire(T0 + 5 * NS, NS, {"a": 2})]).json()
    assert [e["id"] for e in inserted] == sorted({e["id"] for e in inserted})
    assert c.get("/api/0/buckets/b1/events/count").text.strip() == "2"
    listed = events_of(c, "b1")
    assert [e["data"] for e in listed] == [{"a": 2}, {"a": 1}]  # newest first
    first = c.get(f"/api/0/buckets/b1/events/{inserted[0]['id']}").json()
    assert first == inserted[0]

    merged = beat(c, "b1", T0 + 6 * NS, 0, {"a": 2}, 10)
    assert merged["id"] == inserted[1]["id"] and merged["duration"] == 1.0
    merged = beat(c, "b1", T0 + 8 * NS, 0, {"a": 2}, 10)
    assert merged["duration"] == 3.0

    window = c.get("/api/0/buckets/b1/events",
                   params={"start": iso(T0 + NS // 2), "end": iso(T0 + 6 * NS), "limit": 10})
    assert [(e["timestamp"], e["duration"]) for e in window.json()] == [
        ("2024-01-01T00:00:05Z", 1.0), ("2024-01-01T00:00:00.500Z", 0.5)]

    assert c.request("DELETE", f"/api/0/buckets/b1/events/{inserted[0]['id']}").status_code == 200
    assert c.get(f"/api/0/buckets/b1/events/{inserted[0]['id']}").status_code == 404

    exported = c.get("/api/0/export").json()
    assert list(exported["buckets"]) == ["b1"]
    assert len(exported["buckets"]["b1"]["events"]) == 1
    assert c.get("/api/0/buckets/b1/export").json()["buckets"]["b1"]["id"] == "b1"

    assert c.post("/api/0/settings/theme", json="dark").status_code == 201
    assert c.get("/api/0/settings/theme").json() == "dark"
    assert c.get("/api/0/settings").json() == {"theme": "dark"}

    missing = c.get("/api/0/buckets/nope")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/json"
    assert "nope" in missing.json()["message"]
    assert c.request("DELETE", "/api/0/buckets/b1").status_code == 200
    assert c.get("/api/0/buckets/").json() == {}
    assert server.stop() == 0


# -- several workers, one store ----------------------------------------------------------

Write = tuple[str, int, int, dict[str, Any]]  # ("heartbeat" | "insert", start, duration, data)


def _random_walk(rng: random.Random, bucket: int, n: int, inserts: bool) -> list[Write]:
    """One watcher's writes: time only moves forward; the data sometimes changes and
    sometimes the gap exceeds the pulsetime, so events are both created and extended.
    With ``inserts``, some writes insert an event instead (which resets the heartbeat
    anchor: the next heartbeat falls back to the newest event)."""
    writes: list[Write] = []
    now = T0 + bucket * 3600 * NS
    label = "a"
    for _ in range(n):
        now += rng.choice((0, 1, 2, 3, 4, 7, 12)) * NS // 2
        if rng.random() < 0.25:
            label = rng.choice("abc")
        kind = "insert" if inserts and rng.random() < 0.15 else "heartbeat"
        writes.append((kind, now, rng.choice((0, 0, NS // 4, NS)), {"app": label, "n": bucket}))
    return writes


def _send(client: httpx.Client, bucket_id: str, write: Write, pulsetime: float) -> None:
    kind, start, duration, data = write
    if kind == "heartbeat":
        beat(client, bucket_id, start, duration, data, pulsetime)
    else:
        response = client.post(f"/api/0/buckets/{bucket_id}/events",
                               json=[wire(start, duration, data)])
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_heartbeats_per_bucket_equal_sequential(
        live_server: StartServer, http: Callable[[str], httpx.Client], workers: int) -> None:
    """8 watchers, one bucket each, sending in order but all at once across the workers,
    produce exactly the events of the same writes sent one by one (half of them also
    insert events between their heartbeats)."""
    server = live_server(workers=workers)
    rng = random.Random(2)
    pulsetime = 2.5
    walks = [_random_walk(rng, i, 40, inserts=i % 2 == 1) for i in range(8)]
    clients = spread_clients(server, http, len(walks), workers)
    for i in range(len(walks)):
        create(clients[0], f"conc-{i}")
        create(clients[0], f"seq-{i}")
    barrier = threading.Barrier(len(walks))

    def feed(i: int) -> None:
        barrier.wait()
        for write in walks[i]:
            _send(clients[i], f"conc-{i}", write, pulsetime)

    with ThreadPoolExecutor(len(walks)) as pool:
        list(pool.map(feed, range(len(walks))))
    for i, walk in enumerate(walks):
        for write in walk:
            _send(clients[0], f"seq-{i}", write, pulsetime)

    for i, walk in enumerate(walks):
        sequential = shapes(events_of(clients[0], f"seq-{i}"))
        assert len(sequential) >= 8  # the walk really creates and extends events
        assert shapes(events_of(clients[0], f"conc-{i}")) == sequential
        if all(kind == "heartbeat" for kind, *_ in walk):
            beats = [(start, duration, data) for _, start, duration, data in walk]
            assert sequential == sequential_heartbeats(beats, int(pulsetime * NS))
    assert server.stop() == 0


@pytest.mark.parametrize("workers", [1, 2])
def test_concurrent_heartbeats_one_bucket_all_merge(
        live_server: StartServer, http: Callable[[str], httpx.Client], workers: int) -> None:
    """Many clients, one bucket, same data, in any order: after a first heartbeat at T0
    every later one starts after T0 and within the pulsetime, so all merge into one event."""
    server = live_server(workers=workers)
    n_clients, per_client = 8, 12
    clients = spread_clients(server, http, n_clients, workers)
    data = {"app": "editor", "title": "main.py"}
    results: dict[str, list[dict[str, Any]]] = {}
    for name, concurrent in (("seq", False), ("conc", True)):
        create(clients[0], name)
        seed = beat(clients[0], name, T0, 0, data, 0)
        offsets = list(range(1, n_clients * per_client + 1))
        random.Random(7).shuffle(offsets)
        acks: list[list[dict[str, Any]]] = [[] for _ in range(n_clients)]

        def feed(i: int, name: str = name, offsets: list[int] = offsets,
                 acks: list[list[dict[str, Any]]] = acks) -> None:
            for offset in offsets[i::n_clients]:
                start = T0 + offset * NS
                acks[i].append(beat(clients[i], name, start, NS // 2, data, 10**6))

        if concurrent:
            with ThreadPoolExecutor(n_clients) as pool:
                list(pool.map(feed, range(n_clients)))
        else:
            for i in range(n_clients):
                feed(i)
        for ack in (a for per in acks for a in per):
            assert ack["id"] == seed["id"] and to_ns(ack["timestamp"]) == T0
        listed = events_of(clients[0], name)
        assert len(listed) == 1 and listed[0]["id"] == seed["id"]
        assert listed[0]["duration"] == n_clients * per_client + 0.5
        results[name] = listed
    assert shapes(results["conc"]) == shapes(results["seq"])
    assert server.stop() == 0


def test_ids_unique_across_workers(live_server: StartServer,
                                   http: Callable[[str], httpx.Client]) -> None:
    server = live_server(workers=2)
    clients = spread_clients(server, http, 8, 2)
    for b in range(4):
        create(clients[0], f"ids-{b}")

    def feed(i: int) -> list[int]:
        got: list[int] = []
        for j in range(30):
            batch = [wire(T0 + (i * 1000 + j * 10 + k) * NS, NS, {"i": i, "j": j, "k": k})
                     for k in range(5)]
            response = clients[i].post(f"/api/0/buckets/ids-{(i + j) % 4}/events", json=batch)
            assert response.status_code == 200, response.text
            got += [e["id"] for e in response.json()]
            hb = beat(clients[i], f"ids-{(i + j) % 4}", T0 + (i * 1000 + j * 10 + 6) * NS, 0,
                      {"hb": i, "j": j}, 0)
            got.append(hb["id"])
        return got

    with ThreadPoolExecutor(len(clients)) as pool:
        acked = [event_id for got in pool.map(feed, range(len(clients))) for event_id in got]
    assert len(acked) == len(set(acked)) == 8 * 30 * 6
    stored = [e["id"] for b in range(4) for e in events_of(clients[0], f"ids-{b}")]
    assert sorted(stored) == sorted(acked)
    assert server.stop() == 0


# -- the process: banner, port, signals --------------------------------------------------

def test_banner_names_address_and_data_dir(live_server: StartServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "store here"
    server = live_server(data_dir=data_dir)
    assert server.stop() == 0
    assert server.process.stdout is not None
    output = server.process.stdout.read().decode()
    assert f"http://127.0.0.1:{server.port}/" in output
    assert str(data_dir) in output
    assert (data_dir / "fastaw.lmdb").is_file()


def test_refuses_a_port_in_use(tmp_path: Path, spawn: Spawn) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = spawn(["serve", "--port", str(port), "--data-dir", str(tmp_path / "d")],
                     port=port, wait=False)
        assert proc.wait_exit(timeout=30) != 0
    lines = proc.output().strip().splitlines()
    assert len(lines) == 1, lines
    assert str(port) in lines[0] and "in use" in lines[0]
    assert "Traceback" not in proc.output()


def test_restart_on_the_same_port_right_after_shutdown(tmp_path: Path, spawn: Spawn) -> None:
    """Connections the server closed linger in TIME_WAIT; that must not block a restart
    (a watcher's queued heartbeats are lost while the port refuses connections)."""
    port = free_port()
    args = ["serve", "--port", str(port), "--data-dir", str(tmp_path / "d")]
    for _ in range(2):
        proc = spawn(args, port=port)
        with httpx.Client(base_url=proc.url) as client:
            for _ in range(3):
                assert client.get("/api/0/info").status_code == 200
        assert proc.stop() == 0, proc.output()


def _writers(url: str, stop: threading.Event, n: int) -> tuple[list[threading.Thread],
                                                                  list[tuple[str, str, Any]]]:
    """``n`` threads writing until ``stop`` or the server goes away; every 200 is recorded
    as (kind, bucket, returned JSON)."""
    acked: list[tuple[str, str, Any]] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        bucket = f"w{i}"
        now = T0
        with httpx.Client(base_url=url, timeout=30) as client:
            j = 0
            while not stop.is_set():
                j += 1
                now += NS
                try:
                    if j % 4 == 0:
                        body = [wire(now, NS // 2, {"insert": j})]
                        response = client.post(f"/api/0/buckets/{bucket}/events", json=body)
                        kind = "insert"
                    else:
                        response = client.post(
                            f"/api/0/buckets/{bucket}/heartbeat", params={"pulsetime": 5},
                            json=wire(now, 0, {"app": str(j // 8)}))
                        kind = "heartbeat"
                except httpx.HTTPError:
                    return
                if response.status_code != 200:
                    return
                with lock:
                    acked.append((kind, bucket, response.json()))

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(n)]
    return threads, acked


def assert_acked_present(url: str, acked: list[tuple[str, str, Any]]) -> None:
    """Every acknowledged insert exactly, every acknowledged heartbeat's event with at
    least the acknowledged duration."""
    with httpx.Client(base_url=url, timeout=30) as client:
        stored: dict[int, dict[str, Any]] = {}
        for bucket in {b for _, b, _ in acked}:
            for event in events_of(client, bucket):
                stored[event["id"]] = event
    for kind, _, body in acked:
        for event in body if kind == "insert" else [body]:
            found = stored.get(event["id"])
            assert found is not None, f"acknowledged {kind} lost: {event}"
            assert found["timestamp"] == event["timestamp"] and found["data"] == event["data"]
            if kind == "insert":
                assert found["duration"] == event["duration"]
            else:
                assert found["duration"] >= event["duration"], (found, event)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_shuts_down_cleanly_keeping_acknowledged_writes(
        live_server: StartServer, tmp_path: Path, sig: signal.Signals, workers: int) -> None:
    data_dir = tmp_path / "store"
    server = live_server(workers=workers, data_dir=data_dir)
    with httpx.Client(base_url=server.url) as client:
        for i in range(4):
            create(client, f"w{i}")
    stop = threading.Event()
    threads, acked = _writers(server.url, stop, 4)
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 20
    while len(acked) < 20:  # the signal comes while writes are in flight
        assert time.monotonic() < deadline
        time.sleep(0.01)
    started = time.monotonic()
    code = server.stop(sig)  # the whole process group, as a terminal's Ctrl-C would
    elapsed = time.monotonic() - started
    stop.set()
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a request hung through shutdown"
    output = server.process.stdout.read().decode() if server.process.stdout else ""
    assert code == 0, output
    assert not group_alive(server.process.pid), "a worker outlived the server"
    assert "Traceback" not in output and "ERROR" not in output, output
    assert elapsed < 10, f"shutdown took {elapsed:.1f} s"

    restarted = live_server(workers=workers, data_dir=data_dir)
    assert_acked_present(restarted.url, acked)
    assert restarted.stop() == 0, restarted.process.stdout.read() if restarted.process.stdout else ""


def _workers_spawned(pid: int) -> int:
    """How many Granian worker processes ``pid`` has started (not helper processes)."""
    count = 0
    for child in child_pids(pid):
        try:
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in cmdline:
            count += 1
    return count


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_while_workers_start_is_not_lost(tmp_path: Path, spawn: Spawn,
                                                sig: signal.Signals) -> None:
    """A signal that reaches a worker while it is still importing the app (just after it
    was started) used to be swallowed by the signal handler a forked worker inherits from
    Granian's main process: that worker then served on and the server never exited."""
    for _ in range(3):
        port = free_port()
        proc = spawn(["serve", "--port", str(port), "--workers", "2",
                      "--data-dir", str(tmp_path / "d")], port=port, wait=False)
        deadline = time.monotonic() + 30
        while _workers_spawned(proc.process.pid) < 2:
            assert proc.process.poll() is None, proc.output()
            assert time.monotonic() < deadline
            time.sleep(0.005)
        started = time.monotonic()
        code = proc.stop(sig, timeout=15)
        elapsed = time.monotonic() - started
        assert code == 0, proc.output()
        assert elapsed < 15, f"shutdown took {elapsed:.1f} s"
        assert not group_alive(proc.process.pid), "a process outlived the server"


def test_a_killed_worker_is_replaced_and_its_query_processes_exit(
        live_server: StartServer, http: Callable[[str], httpx.Client]) -> None:
    """The out-of-memory killer takes one HTTP worker: the server used to exit altogether
    and the worker's query processes lived on as orphans, forever."""
    server = live_server(workers=1)
    c = http(server.url)
    create(c, "b")
    inserted = c.post("/api/0/buckets/b/events", json=[wire(T0, NS, {"a": 1})]).json()
    query = {"timeperiods": [f"{iso(T0)}/{iso(T0 + 3600 * NS)}"],
             "query": ['RETURN = query_bucket("b");']}
    assert c.post("/api/0/query/", json=query).status_code == 200  # starts query processes
    (worker,) = child_pids(server.process.pid)
    queries = [pid for pid in child_pids(worker)
               if b"fastaw.workerprocess" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    # the query processes are the HTTP worker's only children (no multiprocessing
    # resource tracker beside them)
    assert queries and sorted(queries) == sorted(child_pids(worker))

    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and Path(f"/proc/{pid}/stat").read_text()
              .rsplit(")", 1)[1].split()[0] != "Z" for pid in queries):
        assert time.monotonic() < deadline, "orphaned query processes"
        time.sleep(0.05)
    server.wait_ready()
    c = http(server.url)
    assert events_of(c, "b") == inserted
    assert c.post("/api/0/query/", json=query).json() == [inserted]
    assert server.stop() == 0


# -- modes and configuration -------------------------------------------------------------

def test_testing_mode_defaults() -> None:
    assert load({}).port == DEFAULT_PORT
    assert load({"testing": True}).port == TESTING_PORT == 5666
    assert load({"testing": True, "port": 7000}).port == 7000


@pytest.mark.parametrize("flags, port", [(["--testing"], 5666), ([], 5600)])
def test_default_port_of_the_real_command(tmp_path: Path, spawn: Spawn, flags: list[str],
                                          port: int) -> None:
    """The command line's default port, shown without serving on it: the port is held
    here (or by someone else already), so the server must name it in its refusal."""
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # already in use by another process: as good
            holder.bind(("127.0.0.1", port))
            holder.listen()
        proc = spawn(["serve", *flags, "--data-dir", str(tmp_path / "d")], wait=False)
        assert proc.wait_exit() != 0
    assert f"port {port} on 127.0.0.1 is already in use" in proc.output()


def test_testing_flag_sets_info_and_data_dir(spawn: Spawn) -> None:
    xdg_data = Path(os.environ["XDG_DATA_HOME"])
    port = free_port()
    proc = spawn(["serve", "--testing", "--port", str(port)], port=port)
    try:
        assert httpx.get(proc.url + "/api/0/info").json()["testing"] is True
    finally:
        assert proc.stop() == 0
    assert str(xdg_data / "fastaw" / "testing") in proc.output()
    assert (xdg_data / "fastaw" / "testing" / "fastaw.lmdb").is_file()

    port = free_port()
    proc = spawn(["serve", "--port", str(port)], port=port)
    try:
        assert httpx.get(proc.url + "/api/0/info").json()["testing"] is False
    finally:
        assert proc.stop() == 0
    assert (xdg_data / "fastaw" / "fastaw.lmdb").is_file()


def test_testing_mode_reads_its_own_config_file(tmp_path: Path, spawn: Spawn) -> None:
    xdg_config = Path(os.environ["XDG_CONFIG_HOME"])
    port = free_port()
    (xdg_config / "fastaw").mkdir(parents=True)
    (xdg_config / "fastaw" / "config-testing.toml").write_text(
        f'port = {port}\ndata_dir = "{tmp_path / "t"}"\n')
    (xdg_config / "fastaw" / "config.toml").write_text(f"port = {free_port()}\n")
    proc = spawn(["serve", "--testing"], port=port)
    assert httpx.get(proc.url + "/api/0/info").json()["testing"] is True
    assert proc.stop() == 0
    assert (tmp_path / "t" / "fastaw.lmdb").is_file()


def test_config_file_keys_and_flags_override(tmp_path: Path, spawn: Spawn) -> None:
    port = free_port()
    config = tmp_path / "fastaw.toml"
    config.write_text(
        f'host = "127.0.0.1"\nport = {port}\ndata_dir = "{tmp_path / "from-file"}"\n'
        "require_force_delete = true\nworkers = 2\n\n[auth]\napi_key = \"file-key\"\n")
    auth = {"Authorization": "Bearer file-key"}

    proc = spawn(["serve", "--config", str(config)], port=port)
    try:
        with httpx.Client(base_url=proc.url) as c:
            assert c.get("/api/0/buckets/").status_code == 401
            assert c.post("/api/0/buckets/x", json=BUCKET, headers=auth).status_code == 200
            assert c.request("DELETE", "/api/0/buckets/x", headers=auth).status_code == 401
            assert c.request("DELETE", "/api/0/buckets/x?force=1",
                             headers=auth).status_code == 200
        assert len(child_pids(proc.process.pid)) == 2
    finally:
        assert proc.stop() == 0
    output = proc.output()
    assert str(tmp_path / "from-file") in output and str(config) in output
    assert (tmp_path / "from-file" / "fastaw.lmdb").is_file()

    other = free_port()
    proc = spawn(["serve", "--config", str(config), "--port", str(other),
                  "--data-dir", str(tmp_path / "from-flag"), "--workers", "1"], port=other)
    try:
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/api/0/info")
        assert httpx.get(proc.url + "/api/0/buckets/", headers=auth).status_code == 200
        assert len(child_pids(proc.process.pid)) == 1
    finally:
        assert proc.stop() == 0
    assert (tmp_path / "from-flag" / "fastaw.lmdb").is_file()
    assert not (tmp_path / "from-flag" / "x").exists()


@pytest.mark.parametrize("content, fragment", [
    ("port = [", "not valid TOML"),
    ("prot = 1\n", "prot"),
    ('port = "x"\n', "port"),
    ("query_cache_mb = -1\n", "query_cache_mb must be 0 or more"),
    ("query_threads = -2\n", "query_threads must be 0 or more"),
    ("query_idle_release = -1\n", "query_idle_release must be 0 or more seconds"),
    ("query_idle_release = nan\n", "query_idle_release must be 0 or more seconds"),
])
def test_bad_config_file_is_a_one_line_error(tmp_path: Path, spawn: Spawn, content: str,
                                             fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(content)
    proc = spawn(["serve", "--config", str(config), "--port", str(free_port())], wait=False)
    assert proc.wait_exit() != 0
    lines = proc.output().strip().splitlines()
    assert len(lines) == 1 and fragment in lines[0], lines


def _write_rust_config(testing: bool, key: str) -> None:
    xdg_config = Path(os.environ["XDG_CONFIG_HOME"])
    folder = xdg_config / "activitywatch" / "aw-server-rust"
    folder.mkdir(parents=True, exist_ok=True)
    name = "config-testing.toml" if testing else "config.toml"
    (folder / name).write_text(
        f'address = "127.0.0.1"\nport = 5600\ncors = []\n\n[auth]\napi_key = "{key}"\n')


def test_api_key_from_aw_server_rust_config(live_server: StartServer, tmp_path: Path) -> None:
    _write_rust_config(False, "rust-key")
    _write_rust_config(True, "rust-testing-key")
    server = live_server()
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/api/0/info").status_code == 200
        denied = c.get("/api/0/buckets/")
        assert denied.status_code == 401 and "API key" in denied.json()["message"]
        ok = {"Authorization": "Bearer rust-key"}
        assert c.get("/api/0/buckets/", headers=ok).status_code == 200
        wrong = {"Authorization": "Bearer rust-testing-key"}
        assert c.get("/api/0/buckets/", headers=wrong).status_code == 401

    testing = live_server(extra=["--testing"])
    assert httpx.get(testing.url + "/api/0/buckets/",
                     headers={"Authorization": "Bearer rust-testing-key"}).status_code == 200

    own = tmp_path / "own.toml"
    own.write_text('[auth]\napi_key = "own-key"\n')
    server = live_server(extra=["--config", str(own)])
    with httpx.Client(base_url=server.url) as c:
        assert c.get("/api/0/buckets/",
                     headers={"Authorization": "Bearer rust-key"}).status_code == 401
        assert c.get("/api/0/buckets/",
                     headers={"Authorization": "Bearer own-key"}).status_code == 200

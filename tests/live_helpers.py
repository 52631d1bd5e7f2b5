"""Helpers for the tests that run real `fastaw serve` processes (live server, aw-client,
durability): a launcher for arbitrary command lines, timestamp conversions, a reference
model of sequential heartbeats, and a probe of which Granian worker holds which connection.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import httpx

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
NS: Final = 1_000_000_000


class Serve:
    """``python -m fastaw <args>`` in its own process group (for command lines the
    `live_server` fixture cannot express: no ``--port``/``--data-dir``, ``--config`` …)."""

    def __init__(self, args: Sequence[str], *, port: int | None = None,
                 env: Mapping[str, str] | None = None, wait: bool = True) -> None:
        self.args = list(args)
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "fastaw", *self.args],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )
        self._output: str | None = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"fastaw exited early ({self.process.returncode}):\n"
                                   f"{self.output()}")
            try:
                if httpx.get(self.url + "/api/0/info", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop(signal.SIGKILL)
        raise RuntimeError(f"fastaw did not become ready:\n{self.output()}")

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Signal the whole process group; SIGKILL it if it does not exit in time."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.output()
        return self.process.returncode

    def output(self, timeout: float = 5.0) -> str:
        """Everything the process printed (once it has exited; a leftover process that
        still holds the pipe open cuts it short after ``timeout`` instead of hanging)."""
        if self._output is None:
            if self.process.poll() is None:
                raise RuntimeError("output() needs the process to have exited")
            assert self.process.stdout is not None
            fd = self.process.stdout.fileno()
            chunks: list[bytes] = []
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
                if not ready:
                    chunks.append(b"\n[output cut: a process still holds the pipe]\n")
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                chunks.append(chunk)
            self.process.stdout.close()
            self._output = b"".join(chunks).decode(errors="replace")
        return self._output


def group_members(pgid: int) -> list[int]:
    """The live (not zombie) processes of a process group (Linux /proc)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp …
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def group_alive(pgid: int, grace: float = 3.0) -> bool:
    """Whether a process group still has live members ``grace`` seconds from now at the
    latest (helpers such as multiprocessing's resource tracker exit just after the main)."""
    deadline = time.monotonic() + grace
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.02)
    return False


def child_pids(pid: int) -> list[int]:
    """Direct children of ``pid`` (Linux /proc)."""
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children


def worker_connections(server_pid: int, port: int) -> dict[int, int]:
    """Established connections to ``port`` held by each worker process (Linux only)."""
    owner: dict[str, int] = {}
    counts: dict[int, int] = {}
    for pid in child_pids(server_pid):
        counts[pid] = 0
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                owner[link[8:-1]] = pid
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == "01" and fields[9] in owner:
                counts[owner[fields[9]]] += 1
    return counts


# -- time ---------------------------------------------------------------------------------

def iso(ns: int) -> str:
    """An RFC 3339 UTC timestamp with microseconds (what clients send)."""
    return (EPOCH + timedelta(microseconds=ns // 1000)).isoformat()


def to_ns(text: str) -> int:
    """Parse a server timestamp (µs precision is enough for these tests)."""
    moment = datetime.fromisoformat(text)
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


def dur_ns(seconds: float) -> int:
    return round(seconds * 1e6) * 1000


# -- events -------------------------------------------------------------------------------

Beat = tuple[int, int, dict[str, Any]]  # (start ns, duration ns, data)
Shape = tuple[int, int, str]  # (start ns, duration ns, canonical data) — an event without id


def wire(start: int, duration: int, data: Mapping[str, Any]) -> dict[str, Any]:
    return {"timestamp": iso(start), "duration": duration / NS, "data": dict(data)}


def _canon(data: Mapping[str, Any]) -> str:
    import json

    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def shapes(events: Iterable[Mapping[str, Any]]) -> list[Shape]:
    """Events as sortable (start, duration, data) tuples, ids dropped, oldest first."""
    return sorted((to_ns(e["timestamp"]), dur_ns(e["duration"]), _canon(e["data"]))
                  for e in events)


def sequential_heartbeats(beats: Iterable[Beat], pulsetime: int) -> list[Shape]:
    """The events a correct server holds after ``beats`` were sent one after another into an
    empty bucket (spec §4.1 with the anchor = the previous heartbeat's event)."""
    out: list[list[Any]] = []
    for start, duration, data in beats:
        if out:
            last = out[-1]
            last_end = last[0] + last[1]
            if last[2] == data and last[0] <= start <= last_end + pulsetime:
                end = max(last_end, start + duration)
                if end - last[0] >= 0:
                    last[1] = end - last[0]
                    continue
        out.append([start, duration, data])
    return sorted((s, d, _canon(data)) for s, d, data in out)

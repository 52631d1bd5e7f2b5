"""Make the migration fixtures in tests/data/ with the real reference server.

Runs aw-server 0.12.0 (the upstream Python server, in its own venv: see bench/README.md)
on a free loopback port with XDG dirs in a temp folder, fills it through its REST API,
then writes:

* ``tests/data/aw-server-0.12.0.peewee.db`` — its ``peewee-sqlite.v2.db`` (WAL merged
  into the main file on a copy, so the fixture is one self-contained file);
* ``tests/data/aw-server-0.12.0.export.json`` — its own ``GET /api/0/export`` of the same
  data, the expected result of ``fastaw migrate`` followed by an export.

Usage: ``.venv/bin/python tools/make_aw_fixtures.py [--ref-python /work/refvenv/bin/python]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def call(base: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
    return json.loads(text) if text.strip() else None


def fill(base: str) -> None:
    """Buckets and events covering what a migration must keep exactly."""
    buckets = {
        "aw-watcher-window_fixture": ("currentwindow", "aw-watcher-window"),
        "aw-watcher-afk_fixture": ("afkstatus", "aw-watcher-afk"),
        "aw-watcher-web-firefox": ("web.tab.current", "aw-client-web"),
        "empty-bucket": ("test", "fixture"),
    }
    for name, (type_, client) in buckets.items():
        call(base, "POST", f"/api/0/buckets/{name}",
             {"type": type_, "client": client, "hostname": "fixture-host"})
    windows = [
        {"app": "Firefox", "title": "ActivityWatch — Mozilla Firefox"},
        {"app": "kitty", "title": "~/src/fastaw: vim exchange.py"},
        {"app": "Code", "title": "Ünïcödé ✓ 日本語 \"quoted\", commas"},
    ]
    events = []
    for i in range(30):
        events.append({
            "timestamp": f"2024-03-{1 + i // 10:02d}T{8 + i % 10:02d}:{(7 * i) % 60:02d}:"
                         f"{(13 * i) % 60:02d}.{(123457 * i) % 1000000:06d}+00:00",
            "duration": round(0.001 * ((37 * i) % 5000) + i, 3),
            "data": windows[i % 3],
        })
    call(base, "POST", "/api/0/buckets/aw-watcher-window_fixture/events", events)
    for i in range(12):  # heartbeats: merged and new events
        status = "afk" if (i // 4) % 2 else "not-afk"
        call(base, "POST", "/api/0/buckets/aw-watcher-afk_fixture/heartbeat?pulsetime=120",
             {"timestamp": f"2024-03-02T10:{i * 2:02d}:00+00:00", "duration": 0,
              "data": {"status": status}})
    call(base, "POST", "/api/0/buckets/aw-watcher-web-firefox/events", [
        {"timestamp": "2024-03-03T12:00:00.5+00:00", "duration": 61.25,
         "data": {"url": "https://example.org/?q=a,b", "title": "Example", "audible": False,
                  "incognito": False, "tabCount": 7, "nested": {"a": [1, 2.5, None]}}},
        {"timestamp": "2023-12-31T23:59:59.999+00:00", "duration": 0.001,
         "data": {"url": "https://example.org/", "title": "New year", "audible": True,
                  "incognito": False, "tabCount": 1}},
    ])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ref-python", default=os.environ.get(
        "FASTAW_REF_PYTHON", "/work/refvenv/bin/python"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aw-fixture-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "XDG_DATA_HOME": str(home / "data"),
               "XDG_CONFIG_HOME": str(home / "config"), "XDG_CACHE_HOME": str(home / "cache")}
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [args.ref_python, "-m", "aw_server", "--host", "127.0.0.1", "--port", str(port)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        try:
            for _ in range(100):
                try:
                    call(base, "GET", "/api/0/info")
                    break
                except OSError:
                    time.sleep(0.1)
            fill(base)
            export = call(base, "GET", "/api/0/export")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=30)
        db_dir = home / "data" / "activitywatch" / "aw-server"
        copy = home / "copy"
        copy.mkdir()
        for path in db_dir.glob("peewee-sqlite.v2.db*"):
            shutil.copy2(path, copy / path.name)
        conn = sqlite3.connect(copy / "peewee-sqlite.v2.db")
        conn.execute("PRAGMA journal_mode=DELETE")  # merges the WAL (on the copy)
        conn.execute("VACUUM")
        conn.close()
        OUT.mkdir(parents=True, exist_ok=True)
        shutil.copy2(copy / "peewee-sqlite.v2.db", OUT / "aw-server-0.12.0.peewee.db")
        (OUT / "aw-server-0.12.0.export.json").write_text(
            json.dumps(export, indent=1, sort_keys=True, ensure_ascii=False) + "\n",
            encoding="utf-8")
    size = (OUT / "aw-server-0.12.0.peewee.db").stat().st_size
    print(f"wrote {OUT / 'aw-server-0.12.0.peewee.db'} ({size} bytes) and the export")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

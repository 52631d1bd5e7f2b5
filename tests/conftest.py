"""Shared fixtures: a real store in a temp dir, the in-process app, a live Granian server."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fastaw.api import App, create_app
from fastaw.config import Config
from fastaw.storage import Env, Reader, Writer
from tests.asgi_client import ASGIClient


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real user's ActivityWatch or fastaw directories."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("XDG_DATA_HOME", str(home / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / "cache"))


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    store = Env(tmp_path / "store")
    yield store
    store.close()


@pytest.fixture
def writer(env: Env) -> Iterator[Writer]:
    w = Writer(env)
    w.start()
    yield w
    w.stop()


@pytest.fixture
def reader(env: Env) -> Reader:
    return Reader(env)


def make_config(tmp_path: Path, **overrides: Any) -> Config:
    values: dict[str, Any] = {"data_dir": str(tmp_path / "data"), "port": 5600}
    values.update(overrides)
    return Config(**values)


@pytest.fixture
def make_client(tmp_path: Path) -> Iterator[Callable[..., ASGIClient]]:
    """Factory: ``make_client(**config_overrides)`` → a started in-process client."""
    made: list[tuple[App, ASGIClient]] = []

    def factory(**overrides: Any) -> ASGIClient:
        app = create_app(make_config(tmp_path, **overrides))
        app.startup()
        client = ASGIClient(app)
        made.append((app, client))
        return client

    yield factory
    for app, client in made:
        client.close()
        app.shutdown()


@pytest.fixture
def client(make_client: Callable[..., ASGIClient]) -> ASGIClient:
    return make_client()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real `fastaw serve` process (Granian) on a free loopback port."""

    def __init__(self, data_dir: Path, *, workers: int = 1, extra: list[str] | None = None,
                 env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "fastaw", "serve", "--host", "127.0.0.1",
                   "--port", str(self.port), "--data-dir", str(data_dir),
                   "--workers", str(workers), *(extra or [])]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})}, start_new_session=True,
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                output = self.process.stdout.read().decode() if self.process.stdout else ""
                raise RuntimeError(f"fastaw serve exited early:\n{output}")
            try:
                if httpx.get(self.url + "/api/0/info", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("fastaw serve did not become ready")

    def stop(self, sig: int = 15, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            os.killpg(self.process.pid, sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        return self.process.returncode


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[Callable[..., LiveServer]]:
    """Factory: ``live_server(workers=1)`` → a running server, stopped at teardown."""
    servers: list[LiveServer] = []

    def factory(**kwargs: Any) -> LiveServer:
        data_dir = kwargs.pop("data_dir", tmp_path / f"live{len(servers)}")
        server = LiveServer(data_dir, **kwargs)
        servers.append(server)
        return server

    yield factory
    for server in servers:
        server.stop()
        if server.process.stdout is not None:
            server.process.stdout.close()

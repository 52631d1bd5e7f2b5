"""`fastaw serve`: start the HTTP server (Granian) on the configured store.

The only module that imports granian. The configuration is resolved here once and handed
to every Granian worker process as JSON in an environment variable; each worker opens the
store itself (LMDB is multi-process safe) and runs its own group-commit writer.
"""

from __future__ import annotations

import argparse
import errno
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any, Final

from fastaw.config import ENV_VAR, Config, ConfigError, load, to_env
from fastaw.storage import Env

WORKERS_KILL_TIMEOUT: Final = 10.0  # seconds
RESIGNAL_INTERVAL: Final = 0.5  # seconds
log = logging.getLogger("fastaw.serve")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the server (the default command)",
        description="Run the ActivityWatch-compatible server.",
    )
    add_config_flags(parser)
    parser.add_argument("--workers", type=int, help="HTTP worker processes (default 1)")
    parser.add_argument("--webui", help="directory of an aw-webui build to serve at /")
    parser.add_argument("--durability", choices=("full", "process"),
                        help="full (default): fsync before answering a write; process: "
                             "no fsync (survives a crash of fastaw, not a power loss)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    parser.set_defaults(run=run)


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """Flags shared by every command that opens the store."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default 5600; 5666 with --testing)")
    parser.add_argument("--testing", action="store_true", default=None,
                        help="testing mode: port 5666, a separate data dir")
    parser.add_argument("--data-dir", help="directory of the store (default: user data dir)")
    parser.add_argument("--config", dest="config_file", help="TOML config file to read")


def config_from_args(args: argparse.Namespace) -> Config:
    flags = {
        name: getattr(args, name, None)
        for name in ("host", "port", "testing", "data_dir", "config_file", "workers", "webui",
                     "durability")
    }
    return load(flags)


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if os.name == "posix":
            # Like the real listener: connections of a previous run lingering in TIME_WAIT
            # must not block a restart; a live listener still makes bind() fail.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(f"port {port} on {host} is already in use") from None
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def run(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces
    from granian.log import LogLevels

    config = config_from_args(args)
    check_port_free(config.host, config.port)
    env = Env(Path(config.data_dir), map_size=config.map_size)  # creates it, checks the schema
    env.close()
    os.environ[ENV_VAR] = to_env(config)
    shown_host = f"[{config.host}]" if ":" in config.host else config.host
    print(f"fastaw listening on http://{shown_host}:{config.port}/", file=sys.stderr)
    print(f"  data:    {config.data_dir}", file=sys.stderr)
    print(f"  config:  {config.config_file or '(none; defaults)'}", file=sys.stderr)
    if config.testing:
        print("  testing mode", file=sys.stderr)
    sys.stderr.flush()
    server = Granian(
        "fastaw.api:create_app",
        factory=True,
        address=config.host,
        port=config.port,
        interface=Interfaces.ASGI,
        workers=config.workers,
        log_access=bool(getattr(args, "verbose", False)),
        log_level=LogLevels.info if getattr(args, "verbose", False) else LogLevels.warning,
        backlog=2048,
        workers_kill_timeout=int(WORKERS_KILL_TIMEOUT),
        # A worker that dies (out of memory, a crash) is replaced instead of taking the
        # whole server down with it; Granian still gives up on a crash loop.
        respawn_failed_workers=True,
    )
    _persistent_stop(server)
    server.serve()
    return 0


def _persistent_stop(server: Any) -> None:
    """Adapt Granian's shutdown to a signal that reaches every process of the group.

    * A forked worker inherits Granian's main-process signal handler, which in the child
      only sets a flag nobody reads, and a stop request that reaches a worker before its
      server loop runs is forgotten: a SIGTERM/SIGINT arriving while a worker was still
      starting was lost and that worker served on forever (the server never exited). A
      signal that arrives once the worker runs is honoured, so Granian's single SIGTERM is
      repeated every half second; a worker still alive after `WORKERS_KILL_TIMEOUT` is
      killed (every write it acknowledged is already durable).
    * Ctrl-C or ``systemctl stop`` signal the workers as well as the main process; a
      worker that finished before the main process had told it to stop was reported as
      "Unexpected exit from worker" (an ERROR line) and the server exited with code 1.
      Once a stop signal arrived, the workers' exits are expected.
    """
    main_handler = server.signal_handler_interrupt

    def on_signal(*args: Any) -> None:
        for worker in server.wrks:
            worker.interrupt_by_parent = True
        main_handler(*args)

    def stop_workers() -> None:
        workers = list(server.wrks)
        for worker in workers:
            worker.terminate()
        deadline = time.monotonic() + WORKERS_KILL_TIMEOUT
        for worker in workers:
            worker.join(RESIGNAL_INTERVAL)
            while worker.is_alive():
                if time.monotonic() >= deadline:
                    log.warning("killing worker %d: it did not stop", worker.idx + 1)
                    worker.kill()
                    worker.join()
                    break
                worker.terminate()
                worker.join(RESIGNAL_INTERVAL)
        server.wrks.clear()
        if server.interrupt_signal:
            server.interrupt_children.clear()

    server.signal_handler_interrupt = on_signal
    server._stop_workers = stop_workers

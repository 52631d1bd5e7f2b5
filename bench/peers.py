"""Start and stop the servers that the HTTP benchmarks compare ("peers").

Two peers are known:

* ``fastaw``: ``<python> -m fastaw serve --host 127.0.0.1 --port P --data-dir D
  [--workers N]`` run from the repository root (or ``fastaw_src``, e.g. an
  exported commit), where ``<python>`` is the interpreter running this module
  (override with ``FASTAW_PYTHON``).
* ``reference``: the upstream Python aw-server 0.12.0 installed in its own venv
  (``/work/refvenv`` by default; override with ``FASTAW_REF_PYTHON`` or the
  ``ref_python`` argument), run as ``<python> -m aw_server --host 127.0.0.1
  --port P`` in production mode (``--testing`` would turn on Flask debug mode and
  pretty-printed JSON, which is not what users run).  aw-server has no data-dir
  flag: its DB goes under ``$XDG_DATA_HOME``.

For both peers ``XDG_DATA_HOME``/``XDG_CONFIG_HOME``/``XDG_CACHE_HOME`` point into
the temporary directory, so neither reads or writes the real home directory.

Invariants:

* every peer runs in a fresh temporary directory that is removed on exit
  (unless ``keep=True``), binds 127.0.0.1 only, on a port chosen free just before
  start;
* the server is started in its own session (process group), so stopping it
  (SIGTERM, then SIGKILL after a grace period) reaches every worker it forked
  and nothing else;
* ``peak_rss_bytes`` is the largest *sum* of VmRSS over the server process and
  all its descendants seen by a sampler thread (every ``rss_interval`` seconds;
  the set of descendants is refreshed every ten samples), and never less than the
  main process's own VmHWM.  Summing RSS counts pages
  shared between forked workers more than once, so for multi-process servers it
  is an upper bound.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REF_PYTHON = "/work/refvenv/bin/python"
PEER_NAMES = ("fastaw", "reference")
INFO_PATH = "/api/0/info"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def proc_status_kib(pid: int, key: str) -> int:
    """A ``kB`` field of /proc/<pid>/status, or 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def proc_pss_anon_kib(pid: int) -> int:
    """The process's proportional share of anonymous memory (``Pss_Anon`` of
    /proc/<pid>/smaps_rollup, kB): a page it shares copy-on-write with n processes counts
    1/n here. 0 if the process is gone."""
    try:
        with open(f"/proc/{pid}/smaps_rollup", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Pss_Anon:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def process_tree(root: int) -> list[int]:
    """``root`` and all its live descendants (found by scanning /proc for ppids)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        # The command name (field 2) may contain spaces and parentheses: split after it.
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) < 2:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    tree = [root]
    i = 0
    while i < len(tree):
        tree.extend(children.get(tree[i], ()))
        i += 1
    return tree


def tree_rss_bytes(root: int) -> int:
    """Current sum of VmRSS over ``root`` and its descendants, in bytes."""
    return sum(proc_status_kib(pid, "VmRSS") for pid in process_tree(root)) * 1024


@dataclass
class PeerConfig:
    """Which peer to launch and with what options."""

    name: str
    workers: int | None = None
    ref_python: str | None = None
    fastaw_python: str | None = None
    # Directory holding the ``fastaw`` package to run (default: this checkout).
    fastaw_src: Path | None = None
    extra_args: list[str] = field(default_factory=list)


class Peer:
    """A running server; use as a context manager (``with Peer(cfg) as peer:``)."""

    def __init__(
        self,
        config: PeerConfig,
        *,
        ready_timeout: float = 60.0,
        rss_interval: float = 0.1,
        keep: bool = False,
    ) -> None:
        if config.name not in PEER_NAMES:
            raise ValueError(f"unknown peer {config.name!r}; known: {', '.join(PEER_NAMES)}")
        self.config = config
        self.name = config.name
        self.ready_timeout = ready_timeout
        self.rss_interval = rss_interval
        self.keep = keep
        self.port = 0
        self.tmpdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0
        self.peak_rss_bytes = 0
        self._log_fh: IO[bytes] | None = None
        self._stop_sampler = threading.Event()
        self._sampler: threading.Thread | None = None

    # ----------------------------------------------------------------- launch
    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        assert self.tmpdir is not None
        return self.tmpdir / "server.log"

    def command(self) -> tuple[list[str], dict[str, str], Path]:
        """Command line, environment and working directory for this peer."""
        assert self.tmpdir is not None
        env = dict(os.environ)
        # Both servers find their default config/data/log locations through XDG:
        # point them into the temp dir so nothing of the user's setup leaks in.
        for var, sub in (
            ("XDG_DATA_HOME", "xdg-data"),
            ("XDG_CONFIG_HOME", "xdg-config"),
            ("XDG_CACHE_HOME", "xdg-cache"),
        ):
            env[var] = str(self.tmpdir / sub)
        if self.name == "fastaw":
            python = self.config.fastaw_python or os.environ.get("FASTAW_PYTHON") or sys.executable
            data_dir = self.tmpdir / "data"
            data_dir.mkdir()
            cmd = [python, "-m", "fastaw", "serve", "--host", "127.0.0.1"]
            cmd += ["--port", str(self.port), "--data-dir", str(data_dir)]
            if self.config.workers is not None:
                cmd += ["--workers", str(self.config.workers)]
            src = self.config.fastaw_src or REPO_ROOT
            env["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(src), env.get("PYTHONPATH", "")) if p
            )
            cwd = src
        else:
            python = (
                self.config.ref_python or os.environ.get("FASTAW_REF_PYTHON") or DEFAULT_REF_PYTHON
            )
            if not Path(python).exists():
                raise FileNotFoundError(
                    f"reference python {python!r} not found; see bench/README.md "
                    "(python3 -m venv /work/refvenv && /work/refvenv/bin/pip install "
                    "aw-server==0.12.0 ...) or set FASTAW_REF_PYTHON"
                )
            cmd = [python, "-m", "aw_server", "--host", "127.0.0.1", "--port", str(self.port)]
            # Keep the fastaw checkout off the reference's import path.
            env.pop("PYTHONPATH", None)
            env.pop("VIRTUAL_ENV", None)
            cwd = self.tmpdir
        cmd += self.config.extra_args
        return cmd, env, cwd

    def start(self) -> Peer:
        self.tmpdir = Path(tempfile.mkdtemp(prefix=f"bench-{self.name}-"))
        self.port = free_port()
        cmd, env, cwd = self.command()
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log_fh = log
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._sampler = threading.Thread(target=self._sample_rss, daemon=True)
        self._sampler.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.perf_counter() - t0
        return self

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        url = self.base_url + INFO_PATH
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with code {self.proc.returncode} before it was "
                    f"ready:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise TimeoutError(
            f"{self.name} not ready after {self.ready_timeout} s:\n{self.log_tail()}"
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    # ---------------------------------------------------------------- memory
    def _sample_rss(self) -> None:
        assert self.proc is not None
        root = self.proc.pid
        pids: list[int] = []
        tick = 0
        while not self._stop_sampler.is_set():
            # Walking /proc for the tree costs ~2 ms: do it once a second, and
            # read only the known processes' VmRSS in between.
            if tick % 10 == 0:
                pids = process_tree(root)
            tick += 1
            rss = sum(proc_status_kib(pid, "VmRSS") for pid in pids) * 1024
            self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
            self._stop_sampler.wait(self.rss_interval)

    def current_rss_bytes(self) -> int:
        assert self.proc is not None
        return tree_rss_bytes(self.proc.pid)

    # ------------------------------------------------------------------ stop
    def stop(self, grace: float = 10.0) -> None:
        """SIGTERM the server's process group; SIGKILL it after ``grace`` s."""
        proc = self.proc
        if proc is not None:
            # The main process's high-water mark covers peaks between samples.
            self.peak_rss_bytes = max(
                self.peak_rss_bytes, proc_status_kib(proc.pid, "VmHWM") * 1024
            )
            if proc.poll() is None:
                self._signal_group(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=grace)
                except subprocess.TimeoutExpired:
                    self._signal_group(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=grace)
            # Workers that outlived their parent are still in the group.
            self._signal_group(proc.pid, signal.SIGKILL)
            self.proc = None
        self._stop_sampler.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
            self._sampler = None
        if self._log_fh is not None:
            self._log_fh.close()
            self._log_fh = None
        if self.tmpdir is not None and not self.keep:
            shutil.rmtree(self.tmpdir, ignore_errors=True)

    @staticmethod
    def _signal_group(pgid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, sig)

    # ------------------------------------------------------- context manager
    def __enter__(self) -> Peer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


@contextlib.contextmanager
def running(
    name: str,
    *,
    workers: int | None = None,
    ref_python: str | None = None,
    fastaw_python: str | None = None,
    keep: bool = False,
) -> Iterator[Peer]:
    """``with running("reference") as peer: ...`` — shorthand for ``Peer``."""
    config = PeerConfig(name, workers, ref_python, fastaw_python)
    with Peer(config, keep=keep) as peer:
        yield peer


def _main() -> int:
    """``python bench/peers.py NAME``: start a peer, print its URL, stop on Ctrl-C."""
    import argparse

    parser = argparse.ArgumentParser(description=_main.__doc__)
    parser.add_argument("name", choices=PEER_NAMES)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--ref-python", default=None)
    parser.add_argument("--seconds", type=float, default=0.0, help="stop after this long")
    args = parser.parse_args()
    peer = Peer(PeerConfig(args.name, workers=args.workers, ref_python=args.ref_python))
    with peer:
        print(f"{peer.name} ready at {peer.base_url} in {peer.startup_seconds:.2f} s", flush=True)
        try:
            if args.seconds > 0:
                time.sleep(args.seconds)
            else:
                while True:
                    time.sleep(3600)
        except KeyboardInterrupt:
            pass
    print(f"peak RSS {peer.peak_rss_bytes / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())

"""Large imports on both cores: a child process validates while the writer inserts.

A two-pass import (`fastaw.exchange.importer.Staged`) parses the whole file, then writes it:
the two halves take about as long as each other and run one after the other on one core.
For large files (≥ `PIPELINE_BYTES`, Parquet ≥ `PIPELINE_PARQUET_BYTES`; see
`should_pipeline`) the reader runs instead in a child process — a fresh interpreter that
imports only the reading modules (`child_main`) — and sends validated batches through a
pipe while the writer operation — one LMDB write transaction on the writer thread —
inserts them as they arrive.

All or nothing still holds: nothing is committed until the child has read the whole file
without error. When it reports a bad record (or dies), the operation raises, the writer
aborts the transaction, and the store is exactly as before. Events of a bucket that is not
in the store and whose metadata has not been seen yet are held back until it arrives (an
NDJSON file may name a bucket before describing it); if it never does, the import fails
like the two-pass one.
"""

from __future__ import annotations

import contextlib
import os
import queue
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import msgspec

from fastaw.errors import BadRequest, FastawError
from fastaw.exchange.importer import ImportSummary, Progress
from fastaw.exchange.items import BucketItem
from fastaw.models import Bucket

if TYPE_CHECKING:  # (the reader process never imports the storage package, nor
    # multiprocessing and subprocess: 20-30 ms before its first batch)
    from multiprocessing.connection import Connection

    from fastaw.storage.bulk import BulkInserter
    from fastaw.storage.mutations import Writes

PIPELINE_BYTES: Final = 32 << 20  # ≈ 200k events of JSON, NDJSON or CSV
PIPELINE_PARQUET_BYTES: Final = 4 << 20  # ≈ 150k events: Parquet is compact
QUEUE_DEPTH: Final = 8  # batches in flight between the reader and the writer
PIPE_SIZE: Final = 1 << 20
_BUCKET, _EVENTS, _DONE, _BAD, _FAILED = b"B", b"E", b"D", b"X", b"Z"
_bucket_decoder: Final = msgspec.msgpack.Decoder(tuple[str, Bucket | None])


#: The child's whole program: only the modules the reader needs are imported (a
#: multiprocessing "spawn" child would also import the parent's ``__main__`` module again:
#: the CLI, a server, a benchmark — a quarter of a second before the first batch).
_CHILD: Final = ("import sys; sys.path[:] = sys.argv[4:]; "
                 "from fastaw.exchange.pipeline import child_main; "
                 "child_main(sys.argv[1], sys.argv[2], int(sys.argv[3]))")


def child_main(path: str, fmt: str, fd: int) -> None:
    """Entry point of the reader process started by `_start` (``fd``: the pipe's end)."""
    import gc

    import fastaw.exchange.batch  # noqa: F401 (Polars, before the freeze)

    gc.freeze()  # the modules' objects: never traversed by the collections while reading
    # and no collections at all: reading makes few cycles (a few hundred objects per file)
    # but many short-lived containers (a dict per distinct data text: 0.06 s of
    # collections for a year of window events)
    gc.disable()
    _produce(path, fmt or None, _Stream(fd))


class _Stream:
    """One end of a pipe carrying messages (u64 length, bytes): a `Connection` that
    receives a large message with one buffer and `readinto` (`Connection.recv_bytes`
    reads 64 KiB pieces into new bytes and joins them: 3× the CPU time)."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def send_bytes(self, data: bytes) -> None:
        os.write(self._fd, len(data).to_bytes(8, "big"))
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]

    def send_frame(self, prefix: bytes, frame: Any) -> None:
        """`send_bytes` of ``prefix`` + the frame's IPC bytes, written to the pipe from
        the file Polars wrote them to (`fastaw.exchange.batch.send_ipc`)."""
        from fastaw.exchange.batch import send_ipc

        send_ipc(self._fd, prefix, frame)

    def recv_bytes(self) -> bytearray:
        size = int.from_bytes(self._read(bytearray(8)), "big")
        return self._read(bytearray(size))

    def _read(self, buffer: bytearray) -> bytearray:
        view, done = memoryview(buffer), 0
        while done < len(buffer):
            count = os.readv(self._fd, [view[done:]])
            if not count:
                raise EOFError
            done += count
        return buffer

    def close(self) -> None:
        os.close(self._fd)


class _Child:
    """The reader process: a plain interpreter running `_CHILD`, writing into a pipe."""

    def __init__(self, path: str, fmt: str | None) -> None:
        import subprocess
        from multiprocessing import spawn

        read_end, write_end = os.pipe()
        # a 1 MiB pipe (Linux; 64 KiB by default): a batch crosses in a few large writes
        # and reads instead of dozens, each waking the other side
        with contextlib.suppress(ImportError, AttributeError, OSError):
            import fcntl

            fcntl.fcntl(write_end, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        # Polars on one thread for the text formats: its operations on one batch are small,
        # and a second thread spent ~15 % more CPU on them, taken from the writer's core
        # (a Parquet reader decodes whole row groups: it keeps both)
        env = {**({} if fmt == "parquet" else {"POLARS_MAX_THREADS": "1"}), **os.environ}
        try:
            self._popen = subprocess.Popen(
                [spawn.get_executable(), "-c", _CHILD, path, fmt or "", str(write_end),
                 *sys.path], stdin=subprocess.DEVNULL, pass_fds=(write_end,), env=env)
        except BaseException:
            os.close(read_end)
            raise
        finally:
            os.close(write_end)
        self.conn = _Stream(read_end)

    def is_alive(self) -> bool:
        return self._popen.poll() is None

    def kill(self) -> None:
        self._popen.kill()

    def join(self, timeout: float) -> None:
        import subprocess

        with contextlib.suppress(subprocess.TimeoutExpired):
            self._popen.wait(timeout)

    @property
    def exitcode(self) -> int | None:
        return self._popen.returncode


def _start(path: str, fmt: str | None) -> tuple[Any, _Stream | Connection]:
    """(the reader process, the receiving end of its pipe)."""
    if os.name == "posix":
        child = _Child(path, fmt)
        return child, child.conn
    import multiprocessing

    context = multiprocessing.get_context("spawn")  # no pass_fds on Windows
    conn, child_conn = context.Pipe(duplex=False)
    process = context.Process(target=_produce, args=(path, fmt, child_conn),
                              name="fastaw-import-reader", daemon=True)
    process.start()
    child_conn.close()
    return process, conn


def _produce(path: str, fmt: str | None, conn: _Stream | Connection) -> None:
    """The child: read and validate the file, sending every item; then DONE or the error."""
    from fastaw.exchange.batch import to_ipc
    from fastaw.exchange.importer import read_file

    encode = msgspec.msgpack.encode
    try:
        for item in read_file(Path(path), fmt, ascending=True):
            if isinstance(item, BucketItem):
                conn.send_bytes(_BUCKET + encode((item.bucket_id, item.bucket)))
            elif item.frame.height:  # E, the id's length (u32), the id, the IPC bytes
                name = item.bucket_id.encode()
                prefix = b"".join((_EVENTS, len(name).to_bytes(4, "big"), name))
                if isinstance(conn, _Stream):
                    conn.send_frame(prefix, item.frame)
                else:
                    conn.send_bytes(prefix + to_ipc(item.frame))
        conn.send_bytes(_DONE)
    except FastawError as exc:
        conn.send_bytes(_BAD + exc.message.encode())
    except BaseException as exc:  # reported to the parent, which aborts the import
        conn.send_bytes(_FAILED + f"{type(exc).__name__}: {exc}".encode())
    finally:
        conn.close()


class Pipelined:
    """An import whose reading runs in a child process during `apply` (see module doc)."""

    def __init__(self, path: str | Path, fmt: str | None = None) -> None:
        self._process, self._conn = _start(str(path), fmt)
        self.path, self.fmt = Path(path), fmt
        self.events = 0
        self._used = False
        # A thread drains the pipe into a short queue, so the child keeps reading while the
        # writer inserts (a large message otherwise blocks its sender until it is received).
        self._messages: queue.Queue[bytes | bytearray | None] = queue.Queue(maxsize=QUEUE_DEPTH)
        self._drain = threading.Thread(target=self._pump, name="fastaw-import-pipe",
                                       daemon=True)
        self._drain.start()

    def _pump(self) -> None:
        # Polars and pyarrow, which the writer needs for the first batch, are imported (and
        # a one-row batch rendered) while the child starts (a fresh process: ≈ 0.3 s before
        # it can send anything); a failure here is raised again by the writer's own use
        with contextlib.suppress(BaseException):
            from fastaw.exchange.batch import warm_up

            warm_up()
        try:
            while True:
                message = self._conn.recv_bytes()
                self._messages.put(message)
                if message[:1] in (_DONE, _BAD, _FAILED):
                    return
        except (EOFError, OSError):
            self._messages.put(None)

    def _receive(self) -> bytes | bytearray:
        message = self._messages.get()
        if message is None:
            self._process.join(5)
            raise RuntimeError(f"the import reader process died (exit code "
                               f"{self._process.exitcode})")
        return message

    def apply(self, writes: Writes, progress: Progress | None = None) -> ImportSummary:
        """The writer operation: insert batches as the child validates them."""
        if self._used:  # the writer retries a batch after growing the map: read again here
            from fastaw.exchange.importer import stage_file

            staged = stage_file(self.path, self.fmt)
            try:
                return staged.apply(writes, progress)
            finally:
                staged.close()
        from fastaw.storage.bulk import BulkInserter, create_or_get

        self._used = True
        summary = ImportSummary()
        nums: dict[str, int] = {}
        inserters: dict[str, BulkInserter] = {}
        metadata: dict[str, Bucket | None] = {}
        waiting: dict[str, list[memoryview]] = {}

        def resolve(bucket_id: str) -> int | None:
            if bucket_id in nums:
                return nums[bucket_id]
            existing = writes.bucket(bucket_id)
            described = metadata.get(bucket_id)
            if existing is not None:
                summary.buckets_merged.append(bucket_id)
                nums[bucket_id] = existing.num
            elif described is not None:
                nums[bucket_id] = create_or_get(writes, described)[0]
                summary.buckets_created.append(bucket_id)
            else:
                return None
            return nums[bucket_id]

        def insert(bucket_id: str, blob: memoryview) -> None:
            from fastaw.exchange.batch import FrameBatch, from_ipc

            inserter = inserters.get(bucket_id)
            if inserter is None:
                inserter = inserters[bucket_id] = BulkInserter(writes, nums[bucket_id])
            batch = FrameBatch(from_ipc(blob))
            counts = inserter.add_rendered(batch)
            summary.events_imported += counts.inserted
            summary.events_skipped += counts.skipped
            self.events += len(batch)
            if progress is not None:
                progress(len(batch))

        while True:
            message = self._receive()
            kind = message[:1]
            if kind == _EVENTS:  # (see `_produce`; the IPC bytes are not copied)
                end = 5 + int.from_bytes(message[1:5], "big")
                bucket_id, blob = bytes(message[5:end]).decode(), memoryview(message)[end:]
                if resolve(bucket_id) is None:
                    waiting.setdefault(bucket_id, []).append(blob)
                else:
                    insert(bucket_id, blob)
            elif kind == _BUCKET:
                bucket_id, bucket = _bucket_decoder.decode(message[1:])
                if metadata.get(bucket_id) is None:
                    metadata[bucket_id] = bucket
                if resolve(bucket_id) is not None:
                    for blob in waiting.pop(bucket_id, []):
                        insert(bucket_id, blob)
            elif kind == _DONE:
                break
            elif kind == _BAD:
                raise BadRequest(message[1:].decode())
            else:
                raise RuntimeError(f"the import reader failed: {message[1:].decode()}")
        for bucket_id in [*waiting, *metadata]:  # incl. buckets named but without events
            if resolve(bucket_id) is None:
                raise BadRequest(
                    f"Bucket {bucket_id!r} does not exist and the file has no metadata for "
                    "it (type, client, hostname); create it first or import a format that "
                    "carries bucket metadata")
        return summary

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
        self._process.join(10)
        while self._drain.is_alive():  # unblock the pump if it waits on a full queue
            with contextlib.suppress(queue.Empty):
                self._messages.get_nowait()
            self._drain.join(0.01)
        self._conn.close()


def should_pipeline(path: str | Path, fmt: str) -> bool:
    """Large files are worth a second process.

    ActivityWatch JSON lists events newest first, and batches inserted in descending
    order leave LMDB's pages half full (the store grew by half in a test): the child reads
    each bucket's events array last slice first (`fastaw.exchange.jsonfmt`), so batches
    arrive oldest first like the other formats'.
    """
    path = Path(path)
    limit = min(PIPELINE_BYTES, PIPELINE_PARQUET_BYTES) if fmt == "parquet" else PIPELINE_BYTES
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*.parquet")) >= limit
    return os.path.getsize(path) >= limit


def prepare(path: str | Path, fmt: str | None = None, spool_dir: str | Path | None = None
            ) -> Any:
    """An import ready to `apply` in the writer: pipelined for large files, else staged.

    A staged import has already validated the whole file when this returns (a bad file
    raises here); a pipelined one validates during `apply`. Both end with `close()`.
    """
    from fastaw.exchange.importer import detect_format, stage_file

    fmt = fmt or detect_format(path)
    if should_pipeline(path, fmt):
        return Pipelined(path, fmt)
    return stage_file(path, fmt, spool_dir)

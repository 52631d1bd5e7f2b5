"""Opening the LMDB environment: sub-databases, schema version, map size, resizing.

Durability contract: by default (``durable=True``) the environment is opened with
``sync=True`` and ``metasync=True``; a write transaction's ``commit()`` returns only after
the data and the meta page reached the disk (two fsyncs), and the writer
(`fastaw.storage.writer`) acknowledges a request only after that commit. With
``durable=False`` (config ``durability = "process"``) commits skip the fsyncs: an
acknowledged write then survives a crash or ``kill -9`` of fastaw (the kernel holds the
pages) but not a power loss or kernel crash, which may also damage the store.

Map size: LMDB needs the maximum file size up front. We reserve a large *sparse* map
(default 1 TiB of address space — the file only grows as data is written) and, should a
write still hit ``MapFullError``, double it and retry. Changing the map size is only legal
while this process has no transaction open, so every transaction passes through a `Gate`
(many readers or writers share it; a resize takes it alone).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

import lmdb

from fastaw.errors import StorageError
from fastaw.storage import keys

DEFAULT_MAP_SIZE: Final = 1 << 40
SUBDB_NAMES: Final = (b"events", b"ids", b"buckets", b"stats", b"kv", b"meta", b"windows", b"chunks",
                      b"texts", b"textcodes")
#: Sub-databases later versions added (derived data): a store opened read-only may lack them.
_ADDED: Final = (b"texts", b"textcodes")
DATA_FILE: Final = "fastaw.lmdb"


class Gate:
    """A shared/exclusive gate: transactions share it, a map resize holds it alone."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._shared = 0
        self._exclusive = False

    def acquire_shared(self) -> None:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._shared += 1

    def release_shared(self) -> None:
        with self._cond:
            self._shared -= 1
            if self._shared == 0:
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive or self._shared:
                self._cond.wait()
            self._exclusive = True
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


class Env:
    """An open store: the LMDB environment and its named sub-databases."""

    def __init__(self, path: Path, *, map_size: int = DEFAULT_MAP_SIZE, readonly: bool = False,
                 durable: bool = True):
        self.path = Path(path)
        self.readonly = readonly
        self.path.mkdir(parents=True, exist_ok=True)
        self.gate = Gate()
        try:
            self.lmdb = lmdb.open(
                str(self.path / DATA_FILE),
                subdir=False,
                map_size=map_size,
                max_dbs=len(SUBDB_NAMES) + 2,
                max_readers=1024,
                readonly=readonly,
                lock=True,
                sync=durable,
                metasync=durable,
                readahead=False,
                meminit=False,
            )
        except lmdb.Error as exc:
            raise StorageError(f"Cannot open the store at {self.path}: {exc}") from None
        self.dbs: dict[str, Any] = {}
        try:
            if readonly:
                # py-lmdb 3: a handle opened inside a read-only transaction is unusable
                # after it, even once committed; without a txn it stays valid.
                for name in SUBDB_NAMES:
                    try:
                        self.dbs[name.decode()] = self.lmdb.open_db(name, create=False)
                    except lmdb.NotFoundError:
                        if name not in _ADDED:
                            raise
                        self.dbs[name.decode()] = None
                with self.lmdb.begin() as txn:
                    self._check_schema(txn)
            else:
                with self.lmdb.begin(write=True) as txn:
                    for name in SUBDB_NAMES:
                        self.dbs[name.decode()] = self.lmdb.open_db(name, txn=txn)
                    self._check_schema(txn)
        except (StorageError, lmdb.Error) as exc:
            self.lmdb.close()  # a refused store must not stay open in this process
            if isinstance(exc, StorageError):
                raise
            raise StorageError(f"{self.path} is not a usable fastaw store: {exc}") from None
        self.events = self.dbs["events"]
        self.ids = self.dbs["ids"]
        self.buckets = self.dbs["buckets"]
        self.stats = self.dbs["stats"]
        self.kv = self.dbs["kv"]
        self.meta = self.dbs["meta"]
        self.windows = self.dbs["windows"]
        self.chunks = self.dbs["chunks"]
        self.texts = self.dbs["texts"]
        self.textcodes = self.dbs["textcodes"]

    def _check_schema(self, txn: Any) -> None:
        meta = self.dbs.get("meta") or self.lmdb.open_db(b"meta", txn=txn, create=False)
        raw = txn.get(b"schema", db=meta)
        if raw is None:
            if self.readonly:
                raise StorageError(f"{self.path} is not a fastaw store (no schema version)")
            txn.put(b"schema", keys.u32(keys.SCHEMA_VERSION), db=meta)
            return
        version = keys.read_u32(raw)
        if version != keys.SCHEMA_VERSION:
            raise StorageError(
                f"The store at {self.path} has schema version {version}; this fastaw "
                f"understands version {keys.SCHEMA_VERSION}"
            )

    def _begin(self, *, write: bool, buffers: bool) -> Any:
        """Begin a transaction holding the gate shared; adopt a map grown elsewhere."""
        while True:
            self.gate.acquire_shared()
            try:
                if buffers:  # two calls: the lmdb stubs type `buffers` as a Literal
                    return self.lmdb.begin(write=write, buffers=True)
                return self.lmdb.begin(write=write)
            except lmdb.MapResizedError:
                self.gate.release_shared()
                with self.gate.exclusive():
                    self.lmdb.set_mapsize(0)
            except BaseException:
                self.gate.release_shared()
                raise

    @contextmanager
    def read(self, *, buffers: bool = False) -> Iterator[Any]:
        """A short read-only transaction. Never hold one across an ``await``."""
        txn = self._begin(write=False, buffers=buffers)
        try:
            yield txn
        finally:
            txn.abort()
            self.gate.release_shared()

    @contextmanager
    def write(self) -> Iterator[Any]:
        """A write transaction, committed when the block ends (aborted if it raises)."""
        txn = self._begin(write=True, buffers=False)
        try:
            yield txn
            txn.commit()
        except BaseException:
            txn.abort()
            raise
        finally:
            self.gate.release_shared()

    def grow(self) -> int:
        """Double the map size (called by the writer after ``MapFullError``)."""
        with self.gate.exclusive():
            new_size = self.lmdb.info()["map_size"] * 2
            self.lmdb.set_mapsize(new_size)
            return int(new_size)

    def close(self) -> None:
        """Close the store once no transaction begun through this `Env` is in progress.

        A write transaction still running on another thread (a background chunk write,
        say) is let finish first: py-lmdb invalidates it otherwise, it can then never be
        ended by its own thread, and the close waits for that forever.
        """
        with self.gate.exclusive():
            self.lmdb.close()


def store_path(data_dir: Path) -> Path:
    return Path(data_dir)


def disk_usage(env: Env) -> int:
    try:
        return os.path.getsize(env.path / DATA_FILE)
    except OSError:
        return 0

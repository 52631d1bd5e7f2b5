"""Large imports read by a child process while the writer inserts (exchange.pipeline)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fastaw.errors import BadRequest
from fastaw.exchange import Selection, export_parquet, export_stream, pipeline
from fastaw.exchange.pipeline import Pipelined, prepare
from fastaw.storage import Env, Reader, Writer
from tests.exchange_helpers import apply_file, expected, load, snapshot
from tests.test_exchange_roundtrip import PINNED


def _apply(env: Env, importer: Any) -> Any:
    writer = Writer(env)
    writer.start()
    try:
        return writer.run_sync(importer.apply)
    finally:
        importer.close()
        writer.stop()


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "PIPELINE_BYTES", 1)


@pytest.mark.parametrize("fmt", ["json", "ndjson", "csv", "parquet"])
def test_pipelined_import_is_exact(tmp_path: Path, small_threshold: None, fmt: str) -> None:
    source = load(tmp_path / "source", PINNED)
    out = tmp_path / f"out.{fmt}"
    selection = Selection().resolve(source)
    if fmt == "parquet":
        export_parquet(source, selection, out)
    else:
        out.write_bytes(b"".join(export_stream(source, selection, fmt)))
    target = load(tmp_path / "target", PINNED) if fmt == "csv" else Env(tmp_path / "target")
    if fmt == "csv":  # CSV needs its buckets: start from a copy and expect only skips
        summary = _apply(target, prepare(out))
        assert summary.events_skipped == 4 and summary.events_imported == 0
    else:
        importer = prepare(out)
        assert isinstance(importer, Pipelined)
        summary = _apply(target, importer)
        assert summary.events_imported == 4 and summary.buckets_created == ["a/b c%d=e"]
    assert snapshot(target) == expected(PINNED)
    target.close()
    source.close()


def test_metadata_after_the_events_and_a_bad_line(tmp_path: Path,
                                                  small_threshold: None) -> None:
    bucket = {"id": "late", "type": "t", "client": "c", "hostname": "h"}
    lines = [{"bucket": "late", "timestamp": f"2024-01-01T00:00:0{i}Z", "duration": 1,
              "data": {"i": i}} for i in range(5)]
    good = tmp_path / "good.ndjson"
    good.write_text("\n".join(json.dumps(x) for x in [*lines, {"bucket": bucket}]) + "\n",
                    encoding="utf-8")
    env = Env(tmp_path / "store")
    assert _apply(env, prepare(good)).events_imported == 5
    bad = tmp_path / "bad.ndjson"
    rows = [{"bucket": "late", "timestamp": f"2024-02-01T00:00:00.{i:06d}Z", "data": {}}
            for i in range(60_000)]  # > one 4 MB block: earlier blocks are inserted first
    rows[-2]["timestamp"] = "never"
    bad.write_text("\n".join(json.dumps(x) for x in rows) + "\n", encoding="utf-8")
    with pytest.raises(BadRequest, match=r"line 59999 \(`timestamp`\)"):
        _apply(env, prepare(bad))
    assert Reader(env).count("late") == 5  # the batches already inserted were rolled back
    orphan = tmp_path / "orphan.ndjson"
    orphan.write_text(json.dumps({**lines[0], "bucket": "nowhere"}) + "\n", encoding="utf-8")
    with pytest.raises(BadRequest, match="no metadata"):
        _apply(env, prepare(orphan))
    env.close()


def test_a_retried_operation_reads_the_file_again(tmp_path: Path,
                                                  small_threshold: None) -> None:
    """The writer re-runs an operation after growing a full map; a pipe cannot replay."""
    source = load(tmp_path / "source", PINNED)
    out = tmp_path / "out.ndjson"
    out.write_bytes(b"".join(export_stream(source, Selection().resolve(source), "ndjson")))
    source.close()
    env = Env(tmp_path / "target")
    importer = prepare(out)
    writer = Writer(env)
    writer.start()
    try:
        first = writer.run_sync(importer.apply)
        second = writer.run_sync(importer.apply)  # as a retry would: now a plain re-read
    finally:
        importer.close()
        writer.stop()
    assert (first.events_imported, second.events_skipped) == (4, 4)
    env.close()


def _envelope(events: list[dict[str, Any]]) -> bytes:
    bucket = {"id": "big", "type": "t", "client": "c", "hostname": "h",
              "created": "2024-01-01T00:00:00Z", "events": events}
    return json.dumps({"buckets": {"big": bucket}}).encode()


def _leaf_pages(env: Env) -> int:
    with env.lmdb.begin() as txn:
        return int(txn.stat(env.events)["leaf_pages"])


def test_a_large_json_export_is_pipelined_oldest_first(tmp_path: Path) -> None:
    """Several slices of a newest-first events array: the child sends them last slice
    first, so the store is the staged import's, page for page."""
    events = [{"timestamp": f"2024-03-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
               "duration": 1.5, "data": {"title": f"window {i % 97} ✓", "n": i % 7}}
              for i in range(60_000)][::-1]  # ≈ 5 MB: three slices
    path = tmp_path / "big.json"
    path.write_bytes(_envelope(events))
    assert pipeline.should_pipeline(path, "json") is False  # (below the real threshold)
    piped, staged = Env(tmp_path / "piped"), Env(tmp_path / "staged")
    importer = Pipelined(path, "json")
    assert _apply(piped, importer).events_imported == 60_000
    assert apply_file(staged, path).events_imported == 60_000
    assert snapshot(piped) == snapshot(staged)
    assert _leaf_pages(piped) <= _leaf_pages(staged) + 2
    piped.close()
    staged.close()


def test_pipelined_json_names_the_first_bad_event(tmp_path: Path) -> None:
    events = [{"timestamp": f"2024-03-01T00:00:00.{i:06d}Z", "duration": 1, "data": {}}
              for i in range(60_000)][::-1]
    events[10]["timestamp"] = "never"  # in the first slice, read last
    events[-10]["duration"] = "long"  # in the last slice, read first
    path = tmp_path / "bad.json"
    path.write_bytes(_envelope(events))
    env = Env(tmp_path / "store")
    with pytest.raises(BadRequest, match=r"events\[10\]\.timestamp"):
        _apply(env, Pipelined(path, "json"))
    events[10]["timestamp"] = "2024-03-01T00:00:00Z"
    path.write_bytes(_envelope(events))
    with pytest.raises(BadRequest, match=r"events\[59990\]"):
        _apply(env, Pipelined(path, "json"))
    assert Reader(env).bucket_list() == []
    env.close()


def test_a_reader_process_that_dies_aborts_the_import(tmp_path: Path) -> None:
    events = [{"timestamp": f"2024-03-01T00:00:{i % 60:02d}.{i:06d}Z", "duration": 1,
               "data": {}} for i in range(1000)]
    path = tmp_path / "ok.json"
    path.write_bytes(_envelope(events))
    env = Env(tmp_path / "store")
    importer = Pipelined(path, "json")
    importer._process.kill()
    with pytest.raises(RuntimeError, match="import reader process died"):
        _apply(env, importer)
    assert Reader(env).bucket_list() == []
    assert _apply(env, Pipelined(path, "json")).events_imported == 1000
    env.close()

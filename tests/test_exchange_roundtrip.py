"""Export → import round trips in every format, on real LMDB stores (hypothesis)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings

from fastaw.exchange import Selection, export_parquet, export_stream, stage_file
from fastaw.models import Bucket
from fastaw.storage import Env, Writer, Writes
from tests.exchange_helpers import History, expected, histories, load, snapshot

FORMATS = ("json", "ndjson", "csv", "parquet", "parquet-partitioned")

PINNED = History(
    buckets=[Bucket(id="a/b c%d=e", num=0, type="currentwindow", client="c", hostname="h",
                    created=-1, data=b'{"k":1.0}')],
    events={"a/b c%d=e": [
        (-1, 258_691_000_123, b'{"title":"},{\\"app\\":1}"}'),
        (-(2**62), 0, b'{"app":"x","n":[{"a":1},{"b":2}]}'),
        (1_700_000_000_000_000_000, -5, b'{"k":"a,b\\r\\nc","z":"=1+1"}'),
        (1_700_000_000_000_000_000, 5, b"{}"),
    ]},
)


def _export(env: Env, fmt: str, out: Path, selection: Selection | None = None) -> Path:
    selection = (selection or Selection()).resolve(env)
    if fmt.startswith("parquet"):
        export_parquet(env, selection, out, partitioned=fmt == "parquet-partitioned")
    else:
        with open(out, "wb") as stream:
            for chunk in export_stream(env, selection, fmt):
                stream.write(chunk)
    return out


def _creator(bucket: Bucket) -> Callable[[Writes], Bucket]:
    return lambda writes: writes.create_bucket(bucket)


def _import(path: Path, target: Path, history: History, fmt: str) -> Env:
    env = Env(target)
    writer = Writer(env)
    writer.start()
    try:
        if fmt == "csv":  # CSV carries no bucket metadata: the buckets must exist
            for b in history.buckets:
                bucket = Bucket(id=b.id, num=0, type=b.type, client=b.client,
                                hostname=b.hostname, created=b.created, data=b.data)
                writer.run_sync(_creator(bucket))
        staged = stage_file(path)
        try:
            writer.run_sync(staged.apply)
        finally:
            staged.close()
    finally:
        writer.stop()
    return env


@pytest.mark.parametrize("fmt", FORMATS)
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=histories())
@example(history=PINNED)
def test_round_trip_is_exact(fmt: str, history: History) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = load(root / "source", history)
        name = "partitioned" if fmt == "parquet-partitioned" else f"out.{fmt}"
        out = _export(source, fmt, root / name)
        target = _import(out, root / "target", history, fmt)
        try:
            assert snapshot(target) == expected(history)
            assert snapshot(source) == expected(history)
        finally:
            target.close()
            source.close()


@pytest.mark.parametrize("fmt", ["json", "ndjson", "parquet"])
def test_reimport_skips_every_duplicate(tmp_path: Path, fmt: str) -> None:
    """aw-server-rust merges re-imports; aw-server answered 500 (spec §5.3)."""
    source = load(tmp_path / "source", PINNED)
    out = _export(source, fmt, tmp_path / f"out.{fmt}")
    writer = Writer(source)
    writer.start()
    try:
        staged = stage_file(out)
        summary = writer.run_sync(staged.apply)
        staged.close()
    finally:
        writer.stop()
    assert summary.events_imported == 0
    assert summary.events_skipped == len(PINNED.events["a/b c%d=e"])
    assert summary.buckets_merged == ["a/b c%d=e"]
    assert snapshot(source) == expected(PINNED)
    source.close()


def test_time_range_exports_partition_the_history(tmp_path: Path) -> None:
    """``[start, end)`` by event start: consecutive ranges are disjoint and complete."""
    source = load(tmp_path / "source", PINNED)
    cut = 1_700_000_000_000_000_000
    parts = [Selection(start=None, end=cut), Selection(start=cut, end=None)]
    seen = []
    for index, selection in enumerate(parts):
        out = _export(source, "ndjson", tmp_path / f"part{index}.ndjson", selection)
        env = _import(out, tmp_path / f"t{index}", PINNED, "ndjson")
        rows = snapshot(env)["a/b c%d=e"][1]
        assert all((start < cut) == (index == 0) for start, _, _ in rows)
        seen += rows
        env.close()
    assert sorted(seen) == sorted(PINNED.events["a/b c%d=e"])
    source.close()


def test_bucket_filter(tmp_path: Path) -> None:
    history = History(
        buckets=[Bucket(id=n, num=0, type="t", client="c", hostname="h", created=0)
                 for n in ("one", "two")],
        events={"one": [(1, 1, b"{}")], "two": [(2, 2, b'{"a":1}')]})
    source = load(tmp_path / "source", history)
    out = _export(source, "json", tmp_path / "one.json", Selection(buckets=["two"]))
    target = _import(out, tmp_path / "target", history, "json")
    assert list(snapshot(target)) == ["two"]
    target.close()
    source.close()


def test_cli_export_and_import(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fastaw.cli import main

    source = load(tmp_path / "source", PINNED)
    source.close()
    src = ["--data-dir", str(tmp_path / "source")]
    assert main(["export", *src, str(tmp_path / "a.ndjson")]) == 0  # format from the name
    assert main(["export", *src, "--partitioned", str(tmp_path / "parts")]) == 0
    assert main(["export", *src, "--format", "json", "--start", "1970-01-01", "-"]) == 0
    out = capsys.readouterr().out
    assert out.startswith('{"buckets":{"a/b c%d=e":') and '"timestamp":"1969' not in out
    for name in ("a.ndjson", "parts"):
        target = ["--data-dir", str(tmp_path / f"t-{name}")]
        assert main(["import", *target, "-q", str(tmp_path / name)]) == 0
        err = capsys.readouterr().err
        assert "imported 4 events" in err and "column chunks of 4 events" in err
        env = Env(tmp_path / f"t-{name}")
        assert snapshot(env) == expected(PINNED)
        env.close()
        # the import built every chunk; importing again adds nothing and builds nothing
        assert main(["chunks", *target, "-q"]) == 0
        assert "built 0 chunks" in capsys.readouterr().err
        assert main(["import", *target, str(tmp_path / name)]) == 0
        err = capsys.readouterr().err
        assert "imported 0 events (4 duplicates" in err and "column chunks" not in err
    assert main(["import", "--data-dir", str(tmp_path / "x"), str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err

"""Parquet exports read back by Polars and DuckDB equal the store (single and partitioned)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.exchange import Selection, export_parquet
from fastaw.exchange.parquet import META_KEY, SIDECAR
from fastaw.models import Bucket
from fastaw.storage import Env
from tests.exchange_helpers import History, apply_file, load

BUCKETS = ["aw-watcher-window_host", "a/b c%d=é"]
HISTORY = History(
    buckets=[Bucket(id=name, num=0, type="currentwindow", client="c", hostname="h",
                    created=1_600_000_000_000_000_000, data=b'{"device_id":"x"}')
             for name in BUCKETS],
    events={
        BUCKETS[0]: [(1_704_067_200_000_000_000 + i * 3_600_000_000_123, 1_500_000_007 * i,
                      msgspec.json.encode({"app": f"a{i % 3}", "title": f"t ✓ {i}"}))
                     for i in range(1500)],  # 1500 hours: three months
        BUCKETS[1]: [(-1_000_000_001, 5, b'{"k":[1,2.5,null]}')],
    },
)


def _rows(history: History) -> list[tuple[str, int, int, str]]:
    return sorted((name, start, duration, data.decode())
                  for name, rows in history.events.items() for start, duration, data in rows)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Any:
    env = load(tmp_path_factory.mktemp("pq") / "store", HISTORY)
    yield env
    env.close()


def test_single_file_read_by_polars_and_duckdb(store: Env, tmp_path: Path) -> None:
    out = tmp_path / "all.parquet"
    export_parquet(store, Selection().resolve(store), out)
    frame = pl.read_parquet(out)
    assert frame.columns == ["bucket", "id", "timestamp", "duration", "data", "timestamp_ns",
                             "duration_ns"]
    assert frame.schema["timestamp"] == pl.Datetime("us", "UTC")
    got = sorted(zip(frame["bucket"], frame["timestamp_ns"], frame["duration_ns"],
                     frame["data"], strict=True))
    assert got == _rows(HISTORY)
    # the convenience columns agree with the exact ones
    assert (frame["timestamp"].dt.epoch("us") == frame["timestamp_ns"] // 1000).all()
    assert ((frame["duration"] * 1e9).round() == frame["duration_ns"].cast(pl.Float64)).all()
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT bucket, timestamp_ns, duration_ns, data FROM read_parquet('{out}')").fetchall()
    assert sorted(rows) == _rows(HISTORY)
    apps = dict(con.execute(
        f"SELECT json_extract_string(data, '$.app') AS app, count(*) FROM read_parquet('{out}')"
        f" WHERE bucket = '{BUCKETS[0]}' GROUP BY app").fetchall())
    assert apps == {"a0": 500, "a1": 500, "a2": 500}
    meta = json.loads(pl.read_parquet_metadata(out)[META_KEY])
    assert set(meta) == set(BUCKETS)
    assert meta[BUCKETS[0]]["data"] == {"device_id": "x"}


def test_partitioned_read_by_polars_and_duckdb(store: Env, tmp_path: Path) -> None:
    root = tmp_path / "parts"
    export_parquet(store, Selection().resolve(store), root, partitioned=True)
    months = sorted(p.parent.name for p in root.glob(f"bucket={BUCKETS[0]}/*/*.parquet"))
    assert months == ["month=2024-01", "month=2024-02", "month=2024-03"]
    assert (root / SIDECAR).is_file()
    frame = pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=True).collect()
    got = sorted(zip(frame["bucket"], frame["timestamp_ns"], frame["duration_ns"],
                     frame["data"], strict=True))
    assert got == _rows(HISTORY)  # percent-encoded bucket ids come back decoded
    per_month = dict(pl.scan_parquet(root / "**" / "*.parquet", hive_partitioning=True)
                     .filter(pl.col("bucket") == BUCKETS[0])
                     .group_by("month").len().collect().iter_rows())
    assert sum(per_month.values()) == 1500 and len(per_month) == 3
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT bucket, timestamp_ns, duration_ns, data FROM read_parquet('{root}/**/*.parquet',"
        " hive_partitioning = true)").fetchall()
    assert sorted((str(b), s, d, x) for b, s, d, x in rows) == _rows(HISTORY)


def _foreign(path: Path, data: list[str]) -> None:
    """A Parquet file written by someone else: ms timestamps, float seconds, no metadata."""
    pl.DataFrame({
        "bucket": ["b"] * len(data),
        "timestamp": pl.Series([1_700_000_000_000 + i for i in range(len(data))],
                               dtype=pl.Int64).cast(pl.Datetime("ms", "UTC")),
        "duration": [0.5 * i for i in range(len(data))],
        "data": data,
    }).write_parquet(path)




def test_foreign_parquet_merges_into_an_existing_bucket(tmp_path: Path) -> None:
    from fastaw.errors import BadRequest
    from fastaw.storage import Reader

    path = tmp_path / "foreign.parquet"
    _foreign(path, ['{"b":1, "a":2}', '{"x":[1.0]}', "{}"])
    env = load(tmp_path / "store", History(buckets=[], events={}))
    with pytest.raises(BadRequest, match="no metadata"):  # bucket b does not exist
        apply_file(env, path)
    load_bucket = History(buckets=[Bucket(id="b", num=0, type="t", client="c", hostname="h",
                                          created=0)], events={"b": []})
    env.close()
    env = load(tmp_path / "store", load_bucket)
    summary = apply_file(env, path)
    assert summary.events_imported == 3 and summary.buckets_merged == ["b"]
    rows = sorted((e.start, e.duration, e.data) for e in Reader(env).events("b"))
    assert rows == [(1_700_000_000_000_000_000, 0, b'{"a":2,"b":1}'),
                    (1_700_000_000_001_000_000, 500_000_000, b'{"x":[1.0]}'),
                    (1_700_000_000_002_000_000, 1_000_000_000, b"{}")]
    env.close()


def test_a_bad_parquet_row_is_named(tmp_path: Path) -> None:
    from fastaw.errors import BadRequest

    path = tmp_path / "bad.parquet"
    _foreign(path, ["{}"] * 5 + ["[1]"] + ["{}"] * 3)
    history = History(buckets=[Bucket(id="b", num=0, type="t", client="c", hostname="h",
                                      created=0)], events={"b": []})
    env = load(tmp_path / "store", history)
    with pytest.raises(BadRequest, match=r"the Parquet file row 5 \(`data`\)"):
        apply_file(env, path)
    env.close()


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=300))
def test_the_seconds_column_is_the_exact_quotient(durations: list[int]) -> None:
    """As the JSON API gives it (ns / 1e9), not a product with the reciprocal."""
    from fastaw.exchange.columns import parquet_columns

    frame = pl.DataFrame({"id": [1] * len(durations), "start": [0] * len(durations),
                          "duration": durations, "data": ["{}"] * len(durations)})
    seconds = parquet_columns(frame)["duration"].to_list()
    assert seconds == [ns / 1e9 for ns in durations]

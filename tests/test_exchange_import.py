"""Import: format detection, incremental parsing, first-bad-record errors, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fastaw.errors import BadRequest
from fastaw.exchange import detect_format, jsonfmt
from fastaw.storage import Env, Reader
from fastaw.timefmt import format_ns, parse_datetime, seconds_to_ns
from tests.exchange_helpers import apply_file


def _envelope(events: list[Any], **bucket: Any) -> dict[str, Any]:
    meta = {"id": "b", "type": "t", "client": "c", "hostname": "h", **bucket}
    return {"buckets": {"b": {**meta, "events": events}}}


def _event(i: int, **extra: Any) -> dict[str, Any]:
    return {"timestamp": format_ns(1_700_000_000 * 10**9 + i * 10**9), "duration": 1.0,
            "data": {"i": i, "title": "x},{\"y\":[{},{}]}"}, **extra}


@settings(max_examples=300)
@given(st.integers(-(2**50) + 1, 2**50 - 1))
def test_seconds_survive_json_floats_exactly(ns: int) -> None:
    """aw-server-rust truncates seconds*1e9 (258.691000123 s → …122 ns); fastaw does not."""
    assert seconds_to_ns(ns / 1e9) == ns


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1) | st.integers(-(10**10), 10**10)
                | st.sampled_from([0, 1, -1, 10**16, 10**17 - 1, 2**53 + 1]), min_size=1))
def test_polars_writes_durations_as_msgspec_does(ns: list[int]) -> None:
    """The import's rendering of durations (Polars) is `encode_duration` byte for byte."""
    import polars as pl

    from fastaw.exchange import columns
    from fastaw.models import encode_durations

    assert columns._polars_formats_floats()
    texts = columns.duration_texts(pl.Series(ns, dtype=pl.Int64)).to_list()
    assert texts == [text.decode() for text in encode_durations(ns)]


_STAMP_EDITS = [
    lambda t: t, lambda t: t[:-1] + "000Z", lambda t: t[:-2] + "Z", lambda t: t[:-1] + "0Z",
    lambda t: t[:17] + "60" + t[19:], lambda t: t[:-1] + "+00:00", lambda t: " " + t,
    lambda t: t[:19] + ".000Z", lambda t: t[:19] + ".000000Z", lambda t: t[:19] + ".5Z",
    lambda t: t[:19] + ".123456789Z", lambda t: t[:8] + "31" + t[10:],
    lambda t: t[:11] + "24" + t[13:], lambda t: t.replace("1", "\u0661"),
    lambda t: t[:10] + " " + t[11:], lambda t: t + "\n", lambda t: t.lower()]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1)
                          | st.integers(-(2**20), 2**20).map(lambda k: k * 10**6)
                          | st.sampled_from([-(2**63), 2**63 - 1, 0, -1, 10**9]),
                          st.integers(0, len(_STAMP_EDITS) - 1)), min_size=1, max_size=40))
def test_stored_stamps_are_recognized_exactly(cases: list[tuple[int, int]]) -> None:
    """`parse_stamps` takes a text as the stored stamp exactly where formatting its guessed
    value back gives the text, with that value."""
    _check_stamps([_STAMP_EDITS[edit](format_ns(ns)) for ns, edit in cases])


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 3), st.lists(st.integers(10**9 - 2**63, 2**63 - 1), min_size=5, max_size=30),
       st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), st.integers(0, len(_STAMP_EDITS) - 1)),
                max_size=5))
def test_stored_stamps_of_one_length_are_recognized_exactly(
        digits: int, values: list[int], odd: list[tuple[int, int]]) -> None:
    """The same, for batches of mostly one text length (`columns._FIXED`), a few odd ones."""
    texts = [format_ns(ns - ns % 10 ** (9 - 3 * digits)) for ns in values]
    _check_stamps(texts + [_STAMP_EDITS[edit](format_ns(ns)) for ns, edit in odd])


def _check_stamps(text_list: list[str]) -> None:
    import polars as pl

    from fastaw.exchange.columns import STAMP_FORMAT, parse_stamps

    texts = pl.Series(text_list, dtype=pl.String)
    starts, stamps = parse_stamps(texts)
    guess = texts.str.slice(0, 19).str.to_datetime(
        "%Y-%m-%dT%H:%M:%S", time_unit="ns", strict=False, cache=False).dt.epoch("ns") + (
        texts.str.slice(20, 9).str.strip_suffix("Z").str.pad_end(9, "0")
        .cast(pl.Int64, strict=False))
    back = guess.cast(pl.Datetime("ns")).dt.strftime(STAMP_FORMAT)
    for text, start, stamp, value, formatted in zip(
            texts, starts, stamps, guess, back, strict=True):
        stored = formatted == text
        assert (stamp is not None) == stored, text
        if stored:
            assert (stamp, start) == (text, value) and format_ns(start) == text


def test_json_is_parsed_in_slices_whose_cuts_are_proven(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Cuts guessed inside strings or nested objects are rejected and moved on."""
    monkeypatch.setattr(jsonfmt, "CHUNK_BYTES", 64)
    events = [_event(i) for i in range(200)]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_envelope(events), indent=2), encoding="utf-8")
    env = Env(tmp_path / "store")
    summary = apply_file(env, path)
    assert summary.events_imported == 200
    got = sorted(e.start for e in Reader(env).events("b"))
    assert got == sorted(parse_datetime(e["timestamp"]) for e in events)
    env.close()


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda ev: ev.update(timestamp="yesterday"), '$.buckets["b"].events[57].timestamp'),
    (lambda ev: ev.update(duration="1"), '$.buckets["b"].events[57].duration'),
    (lambda ev: ev.pop("data"), '$.buckets["b"].events[57]'),
    (lambda ev: ev.update(data=[1]), '$.buckets["b"].events[57].data'),
    (lambda ev: ev.update(timestamp="2262-04-11T23:47:16Z", duration=10.0),
     '$.buckets["b"].events[57]'),
])
@pytest.mark.parametrize("chunk", [500, 1 << 21])  # scalar and column-wise validation
def test_a_bad_record_is_named_and_nothing_is_imported(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mutate: Any, message: str,
        chunk: int) -> None:
    monkeypatch.setattr(jsonfmt, "CHUNK_BYTES", chunk)
    events = [_event(i) for i in range(600)]
    mutate(events[57])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_envelope(events)), encoding="utf-8")
    env = Env(tmp_path / "store")
    with pytest.raises(BadRequest) as info:
        apply_file(env, path)
    assert message in info.value.message
    assert Reader(env).bucket_list() == []
    env.close()


def test_data_that_is_not_utf8_is_named(tmp_path: Path) -> None:
    events = [_event(i) for i in range(300)]
    events[12]["data"] = {"title": "@@@"}
    path = tmp_path / "bad.json"
    path.write_bytes(json.dumps(_envelope(events)).encode().replace(b"@@@", b"\xff"))
    env = Env(tmp_path / "store")
    with pytest.raises(BadRequest, match=r'events\[12\]\.data'):
        apply_file(env, path)
    assert Reader(env).bucket_list() == []
    env.close()


def test_ndjson_errors_name_the_line(tmp_path: Path) -> None:
    lines = ['{"bucket":{"id":"b","type":"t","client":"c","hostname":"h"}}']
    lines += [json.dumps({"bucket": "b", **_event(i)}) for i in range(10)]
    lines[7] = lines[7].replace('"duration": 1.0', '"duration": "x"')
    path = tmp_path / "bad.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = Env(tmp_path / "store")
    with pytest.raises(BadRequest, match="line 8"):
        apply_file(env, path)
    assert Reader(env).bucket_list() == []
    env.close()


def test_both_reference_shapes_import(tmp_path: Path) -> None:
    """aw-server (Python: no ids, +00:00, `name`, no metadata) and aw-server-rust shapes."""
    python: dict[str, Any] = {"buckets": {"py": {
        "id": "py", "created": "2024-01-01T10:00:00.123456+00:00", "name": None, "type": "t",
        "client": "c", "hostname": "h", "data": {},
        "events": [{"timestamp": "2024-01-01T10:00:00.123000+00:00", "duration": 1.5,
                    "data": {"a": 1}}]}}}
    rust: dict[str, Any] = {"buckets": {"rs": {
        "id": "rs", "type": "t", "client": "c", "hostname": "h",
        "created": "2024-01-01T10:00:00.123456789Z", "data": {"k": [1]},
        "metadata": {"start": "2024-01-01T10:00:00Z", "end": None}, "last_updated": None,
        "events": [{"id": 99, "timestamp": "2024-01-01T10:00:00.000000001Z",
                    "duration": 0.25, "data": {"b": 1.0}}]}}}
    env = Env(tmp_path / "store")
    for name, body in (("py.json", python), ("rs.json", rust)):
        (tmp_path / name).write_text(json.dumps(body), encoding="utf-8")
        apply_file(env, tmp_path / name)
    reader = Reader(env)
    (py_event,) = reader.events("py")
    assert (py_event.start, py_event.duration, py_event.data) == (
        parse_datetime("2024-01-01T10:00:00.123Z"), 1_500_000_000, b'{"a":1}')
    (rs_event,) = reader.events("rs")
    assert rs_event.start % 10**9 == 1 and rs_event.data == b'{"b":1.0}'
    assert rs_event.id != 99 or reader.events("py")[0].id != 99  # ids are fresh
    assert reader.bucket("rs").data == b'{"k":[1]}'  # type: ignore[union-attr]
    assert reader.bucket("py").created == parse_datetime(  # type: ignore[union-attr]
        "2024-01-01T10:00:00.123456Z")
    env.close()


def test_events_for_an_unknown_bucket_without_metadata_import_nothing(tmp_path: Path) -> None:
    path = tmp_path / "x.ndjson"
    path.write_text(json.dumps({"bucket": "nowhere", **_event(1)}) + "\n", encoding="utf-8")
    env = Env(tmp_path / "store")
    with pytest.raises(BadRequest, match="no metadata"):
        apply_file(env, path)
    env.close()


@pytest.mark.parametrize(("content", "fmt"), [
    (b'  {"buckets": {}}', "json"), (b'{"bucket":"a","timestamp":"2024"}\n', "ndjson"),
    (b"PAR1....", "parquet"), (b"bucket,id,timestamp,duration,data\r\n", "csv"),
])
def test_detect_format_by_content(tmp_path: Path, content: bytes, fmt: str) -> None:
    path = tmp_path / "file.bin"
    path.write_bytes(content)
    assert detect_format(path) == fmt


def test_detect_format_refuses_sqlite_and_junk(tmp_path: Path) -> None:
    (tmp_path / "a.db").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(BadRequest, match="migrate"):
        detect_format(tmp_path / "a.db")
    (tmp_path / "b.txt").write_bytes(b"hello")
    with pytest.raises(BadRequest, match="Unrecognized"):
        detect_format(tmp_path / "b.txt")


@pytest.mark.parametrize(("row", "message"), [
    ('b,1,2024-01-01T00:00:00Z,soon,"{}"', "CSV line 4: duration 'soon' is not a number"),
    ('b,1,2024-01-01T00:00:00Z,1.5,"[1]"', r"CSV line 4 \(`data`\): expected a JSON object"),
    ('b,1,2024-13-01T00:00:00Z,1.5,"{}"', r"CSV line 4 \(`timestamp`\)"),
    (',1,2024-01-01T00:00:00Z,1.5,"{}"', "CSV line 4: bucket, timestamp and data"),
])
def test_csv_errors_name_the_line(tmp_path: Path, row: str, message: str) -> None:
    good = 'b,1,2024-01-01T00:00:00Z,1.5,"{""a"":1}"'
    path = tmp_path / "x.csv"
    path.write_text("\r\n".join(["bucket,id,timestamp,duration,data", good, good, row, good])
                    + "\r\n", encoding="utf-8")
    env = Env(tmp_path / "store")
    with pytest.raises(BadRequest, match=message):
        apply_file(env, path)
    env.close()


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=30))
def test_exact_stamps_are_kept_only_when_they_are_the_stored_form(values: list[int]) -> None:
    import polars as pl

    from fastaw.exchange.columns import parse_stamps

    texts = [format_ns(ns) for ns in values]
    texts += [t.replace("Z", "+00:00") for t in texts]  # parsed, never kept as the stamp
    texts += [t[:-1] + ("000Z" if "." in t else ".000Z") for t in texts[:len(values)]]
    texts += ["2024-02-30T00:00:00Z", "2024-01-01T00:00:60Z", "10000-01-01T00:00:00Z"]
    parsed, stamps = parse_stamps(pl.Series(texts, dtype=pl.String))
    for text, ns, stamp in zip(texts, parsed, stamps, strict=True):
        if ns is not None:
            assert ns == parse_datetime(text)
        if stamp is not None:
            assert stamp == text == format_ns(parse_datetime(text))
    assert stamps[:len(values)].null_count() == 0


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=1, max_size=50))
def test_column_wise_time_paths_agree_with_the_scalar_ones(values: list[int]) -> None:
    from fastaw.exchange.columns import format_starts, nearest_ns, parse_timestamps

    assert format_starts(values) == [format_ns(ns).encode() for ns in values]
    texts = [format_ns(ns) for ns in values]
    texts += [t.replace("T", " ").replace("Z", "+00:00") for t in texts]
    for text, parsed in zip(texts, parse_timestamps(texts), strict=True):
        assert parsed is None or parsed == parse_datetime(text)
    seconds = [ns / 1e9 for ns in values]
    for value, ns in zip(seconds, nearest_ns(seconds), strict=True):
        assert ns is None or ns == seconds_to_ns(value)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(-(2**63), 2**63 - 1), max_size=40), st.integers(0, 5))
def test_value_heads_are_packed_from_the_column_buffer(durations: list[int], skip: int) -> None:
    """`batch._heads` (strided copies of the column's buffer) is ``_HEAD.pack`` per row,
    also for a slice of a column (an Arrow offset)."""
    import polars as pl

    from fastaw.exchange import batch

    column = pl.Series([0] * skip + durations, dtype=pl.Int64)[skip:]
    heads = batch._heads(column)
    assert heads.dtype == pl.Binary
    assert heads.to_list() == [batch._HEAD.pack(d, batch._ID) for d in durations]


def _tricky(i: int) -> dict[str, Any]:
    """An event whose data holds ``},{`` in strings and lists of objects: wrong cut guesses."""
    return {"timestamp": format_ns(1_700_000_000 * 10**9 + i * 10**9), "duration": 1.0,
            "data": {"tabs": [{"a": i}, {"b": "},{"}, {}], "title": "x},{\"y\":[{},{}]}\\",
                     "n": {"m": [{}, {"k": "}, {"}]}}}


def _mixed(count: int) -> list[dict[str, Any]]:
    """Newest first; every tenth event tricky, so some guesses are right and some not."""
    return [_tricky(i) if i % 10 == 3 else {
        "timestamp": format_ns(1_700_000_000 * 10**9 + i * 10**9), "duration": 1.0,
        "data": {"i": i}} for i in range(count)][::-1]


@pytest.mark.parametrize("chunk", [1, 40, 97, 300, 2000])
@pytest.mark.parametrize("indent", [None, 1])
def test_guessed_cuts_read_backwards_give_every_event_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int, indent: int | None) -> None:
    """The ascending read (last slice first, cuts guessed and proven slice by slice) yields
    the events of the front-to-back read, oldest batch first, whatever the guesses hit."""
    from fastaw.exchange.importer import read_file
    from fastaw.exchange.items import EventsItem

    monkeypatch.setattr(jsonfmt, "CHUNK_BYTES", chunk)
    events = _mixed(120)
    path = tmp_path / "export.json"
    path.write_text(json.dumps(_envelope(events), indent=indent), encoding="utf-8")

    def rows(ascending: bool) -> list[list[tuple[Any, ...]]]:
        return [list(item.frame.iter_rows()) for item in read_file(path, "json",
                                                                   ascending=ascending)
                if isinstance(item, EventsItem)]

    forward, backward = rows(False), rows(True)
    flat = [row for batch in backward for row in batch]
    assert flat == sorted(row for batch in forward for row in batch)
    assert [row[0] for row in flat] == sorted(row[0] for row in flat)


@pytest.mark.parametrize("chunk", [1, 97, 2000])
def test_guessed_cuts_still_name_the_first_bad_event(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    from fastaw.exchange.importer import read_file

    monkeypatch.setattr(jsonfmt, "CHUNK_BYTES", chunk)
    events = _mixed(80)
    events[7]["timestamp"] = "never"
    events[70]["duration"] = "long"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_envelope(events)), encoding="utf-8")
    with pytest.raises(BadRequest, match=r"events\[7\]\.timestamp"):
        list(read_file(path, "json", ascending=True))


@pytest.mark.parametrize("chunk", [1, 97, 300])
def test_right_guesses_give_the_batches_of_the_proven_cuts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    """Where every guess is right, the ascending read's batches are the front-to-back
    read's, in reverse (so a pipelined import stays the staged one, id for id)."""
    from fastaw.exchange.importer import read_file
    from fastaw.exchange.items import EventsItem

    monkeypatch.setattr(jsonfmt, "CHUNK_BYTES", chunk)
    path = tmp_path / "export.json"
    events = [event for event in _mixed(200) if "tabs" not in event["data"]]
    for event in events[::7]:  # equal starts across cuts keep their order too
        event["timestamp"] = events[0]["timestamp"]
    path.write_text(json.dumps(_envelope(events)), encoding="utf-8")

    def batches(ascending: bool) -> list[list[tuple[Any, ...]]]:
        return [list(item.frame.iter_rows()) for item in read_file(path, "json",
                                                                   ascending=ascending)
                if isinstance(item, EventsItem)]

    assert batches(True) == batches(False)[::-1]

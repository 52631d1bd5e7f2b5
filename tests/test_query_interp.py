"""The query2 interpreter: semantics of spec §2.3–2.4, the conformance cases of §6.1–6.3,
the execution model of §1.4, output of §1.5, and the built-ins' argument handling (§3.0).

Transforms come from `fastaw.transforms`; where one is not there yet, a tiny scalar
stand-in from this file is installed so the interpreter can still be tested.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from fastaw.errors import BadRequest, QueryError, QueryTimeout
from fastaw.query import MemorySource, compile_query, run_query, statement_threads
from fastaw.query.output import encode_value, event_json
from fastaw.query.values import DEBUG_LIMIT, debug, frame_to_events
from fastaw.transforms.frame import Events, from_columns

CORPUS = Path(__file__).parent / "data" / "queries"
DAY = "2000-01-01T00:00:00Z/2000-01-02T00:00:00Z"
WIDE = "1980-01-01T00:00:00Z/2080-01-02T00:00:00Z"
S = 1_000_000_000
T0 = 946_684_800 * S  # 2000-01-01T00:00:00Z


# -- stand-ins for transforms not written yet ------------------------------------------------

Row = tuple[int | None, int, int, str]


def rows(frame: Events) -> list[Row]:
    return list(frame.select("id", "timestamp", "duration", "data").iter_rows())  # type: ignore[arg-type]


def frame_of(items: list[Row]) -> Events:
    return from_columns(
        [r[0] for r in items], [r[1] for r in items], [r[2] for r in items], [r[3] for r in items]
    )


def _clip(frame: Events, start: int, end: int) -> Events:
    picked = sorted(rows(frame), key=lambda r: (-r[1], r[0] if r[0] is not None else 0))
    out: list[Row] = []
    for ident, ts, dur, data in picked:
        new_ts, new_end = max(ts, start), min(ts + dur, end)
        out.append((ident, new_ts, new_end - new_ts, data))
    return frame_of(out)


STAND_INS: dict[str, Callable[..., Any]] = {
    "query_bucket_clip": _clip,
    "concat": lambda *frames: frame_of([r for f in frames for r in rows(f)]),
    "sort_by_timestamp": lambda f: frame_of(sorted(rows(f), key=lambda r: r[1])),
    "sort_by_duration": lambda f: frame_of(sorted(rows(f), key=lambda r: -r[2])),
    "limit_events": lambda f, n: f.head(n),
    "sum_durations": lambda f: (sum(r[2] for r in rows(f)) // 1_000_000) / 1000,
}


@pytest.fixture(autouse=True, params=[1, 3], ids=["in-sequence", "3-threads"])
def _statement_threads(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test twice: statements one after another, and at once (`dataflow`)."""
    statement_threads(request.param)
    yield
    statement_threads(1)


@pytest.fixture(autouse=True)
def transforms(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """`fastaw.transforms`, with stand-ins for whatever it does not provide yet."""
    module = importlib.import_module("fastaw.transforms")
    for name, fn in STAND_INS.items():
        if not hasattr(module, name):
            monkeypatch.setattr(module, name, fn, raising=False)
    return module


@pytest.fixture
def record(
    monkeypatch: pytest.MonkeyPatch, transforms: ModuleType
) -> Iterator[list[tuple[str, tuple[Any, ...]]]]:
    """Replace every named transform by a recorder that returns its first argument."""
    calls: list[tuple[str, tuple[Any, ...]]] = []

    def recorder(name: str) -> Callable[..., Any]:
        def fn(*args: Any, **options: Any) -> Any:
            calls.append((name, args))
            return 1.5 if name == "sum_durations" else args[0]

        return fn

    for name in (
        "flood", "sort_by_duration", "sort_by_timestamp", "split_url_events", "sum_durations",
        "limit_events", "merge_events_by_keys", "chunk_events_by_key", "filter_keyvals",
        "exclude_keyvals", "filter_keyvals_regex", "filter_period_intersect", "period_union",
        "union_no_overlap", "categorize", "tag", "simplify_window_titles",
    ):  # fmt: skip
        monkeypatch.setattr(transforms, name, recorder(name), raising=False)
    yield calls


def populated() -> MemorySource:
    """Spec §6.1: bucket ``testid`` on ``testhost`` with two zero-length events."""
    now = T0 + 5 * S
    return MemorySource(
        {"testid": [
            {"timestamp": now, "duration": 0, "data": {"key": "value"}},
            {"timestamp": now + 1000, "duration": 0, "data": {"key": "value"}},
        ]},
        hostnames={"testid": "testhost"},
    )  # fmt: skip


def run(query: str, source: MemorySource | None = None, period: str = DAY) -> Any:
    body = compile_query(query.split("\n")).run(source or MemorySource(), [period])
    [result] = msgspec.json.decode(body)
    return result


def fails(query: str, source: MemorySource | None = None, period: str = DAY) -> QueryError:
    with pytest.raises(QueryError) as info:
        compile_query(query.split("\n")).run(source or MemorySource(), [period])
    return info.value


# -- corpus: data/queries/valid/<name>.query → <name>.json (the exact response body) --------


@pytest.mark.parametrize("path", sorted((CORPUS / "valid").glob("*.query")), ids=lambda p: p.stem)
def test_valid_corpus(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").removesuffix("\n").split("\n")
    expected = path.with_suffix(".json").read_bytes().removesuffix(b"\n")
    assert compile_query(lines).run(MemorySource(), [DAY]) == expected


# -- spec §6.1 (aw-query/tests/query.rs) -----------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("return 1==1;", True),
        ("return  2==1;", False),
        ('return  "a"=="a";', True),
        ('return  "a"=="b";', False),
        ("return  True==True;", True),
        ("return  False==True;", False),
        ("return 1;", 1.0),
        ("RETURN=1;", 1.0),
        ("return 1+1;", 2.0),
        ("n=1; if True { n=2; } return n;", 2.0),
        ("n=1; if False { n=2; } return n;", 1.0),
        ("a=True; n=1; if a { n=2; } return n;", 2.0),
        ("a=False; n=1; if a { n=2; } return n;", 1.0),
        ("a=False; n=1; if a { } else { n=3; } return n;", 3.0),
        ("a=False; b=True; n=1; if a { n=2; } elif b { n=3; } return n;", 3.0),
        ("a=False; b=True; n=1; if a { n=2; } elif a { n=3; } else { n=4; } return n;", 4.0),
        ("a=True; n=1; if a { if a { n = 2; } } return n;", 2.0),
        ("return print(1);", None),
        ("return print(1, 2);", None),
        ('return "test \\" with escaped quote";', 'test " with escaped quote'),
        ("return [];", []),
        ("return [1];", [1.0]),
        ("return [1+1];", [2.0]),
        ("return [1,1];", [1.0, 1.0]),
        ("return [1,1+2];", [1.0, 3.0]),
        ("return 1;# testing 123", 1.0),
        ("return {};", {}),
        ('return {"test": 2};', {"test": 2.0}),
        ('return {"test": 2, "test2": "teststr"};', {"test": 2.0, "test2": "teststr"}),
        ('return {"test": {"test": "test"}};', {"test": {"test": "test"}}),
        ("return [1]+[2];", [1.0, 2.0]),
        ('return "a"+"b";', "ab"),
        ('a = ["b","a"]; return contains(a, "a");', True),
        ('a = ["b","a"]; return contains(a, "c");', False),
        ('a = {"a": 1}; return contains(a, "a");', True),
        ('a = {"b": 1}; return contains(a, "a");', False),
        ("return 1+1;", 2.0),
        ("return 1-1;", 0.0),
        ("return 3*5;", 15.0),
        ("return 4/2;", 2.0),
        ("return 2.5%1;", 0.5),
        ("return 1+1+0+1;", 3.0),
    ],
)
def test_rust_query_tests(query: str, expected: Any) -> None:
    assert run(query, populated(), WIDE) == expected


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("return  True==1;", "InvalidType("),
        ("return no_such_function(1);", 'VariableNotDefined("no_such_function")'),
        ("invalid_type=1; return invalid_type(1);", 'InvalidType("invalid_type")'),
        ("return 1/0;", "MathError("),
    ],
)
def test_rust_query_errors(query: str, message: str) -> None:
    assert fails(query, populated(), WIDE).message.startswith(message)


def test_query_bucket_populated() -> None:
    result = run('return query_bucket("testid");', populated(), WIDE)
    assert [e["id"] for e in result] == [2, 1]  # newest first
    assert result[0] == {
        "data": {"key": "value"},
        "duration": 0.0,
        "id": 2,
        "timestamp": "2000-01-01T00:00:05.000001Z",
    }


def test_categorize_and_tag_arguments(record: list[tuple[str, tuple[Any, ...]]]) -> None:
    """§6.1 test_categorize / test_tag / test_rule_parsing: the rules reach the transform
    validated, in order, as plain JSON-like values."""
    query = (
        'events = query_bucket("testid");'
        'events = categorize(events, [[["Test","Subtest"], {"type":"regex","regex":"^value$"}],'
        ' [["Media"], {"type": "none", "color": "#fff"}]]);'
        'events = tag(events, [["testtag", {"type":"regex","regex":"value$", "ignore_case": true,'
        ' "select_keys": ["key"], "id": 3}], ["another testtag", {"type":"regex","regex":"value$"}, "extra"]]);'
        "return events;"
    )
    run(query, populated(), WIDE)
    (_, (_, cat_rules)), (_, (_, tag_rules)) = record
    assert cat_rules == [
        (["Test", "Subtest"], {"type": "regex", "regex": "^value$", "ignore_case": False}),
        (["Media"], {"type": "none"}),
    ]
    assert tag_rules == [
        (
            "testtag",
            {"type": "regex", "regex": "value$", "ignore_case": True, "select_keys": ["key"]},
        ),
        ("another testtag", {"type": "regex", "regex": "value$", "ignore_case": False}),
    ]


@pytest.mark.parametrize(
    "rules",
    [
        '[["testtag", {"type":"none"}]]',
        '[["testtag", {"type":"regex","regex":"test","ignore_case":false}]]',
        '[["testtag", {"type":"regex","regex":"test","select_keys":["key"]}]]',
    ],
)
def test_rule_parsing_ok(rules: str, record: list[tuple[str, tuple[Any, ...]]]) -> None:
    assert run(f"events = []; return tag(events, {rules});") == []


def test_all_functions(record: list[tuple[str, tuple[Any, ...]]]) -> None:
    """§6.1 test_all_functions: the long program calls every function and succeeds."""
    query = """
    events = query_bucket(find_bucket("testid", "testhost"));
    events = flood(events);
    events = sort_by_duration(events);
    events = limit_events(events, 10000);
    events = sort_by_timestamp(events);
    events = concat(events, query_bucket("testid"));
    events = categorize(events, [[["test"], {"type":"regex","regex":"value$"}], [["test","testing"], {"type":"regex","regex":"value$"}]]);
    events = tag(events, [["testtag", {"type":"regex","regex":"test$"}], ["another testtag", {"type":"regex","regex":"test-pat$"}]]);
    total_duration = sum_durations(events);
    bucketnames = query_bucket_names();
    print("test", "test2");
    url_events = split_url_events (events);
    filtered_events = filter_period_intersect(events, events);
    filtered_events = filter_keyvals(events, "$category", [["Uncategorized"]]);
    filtered_events = filter_keyvals_regex(events, "key", "regex");
    chunked_events = chunk_events_by_key(events, "key");
    merged_events = merge_events_by_keys(events, ["key"]);
    return merged_events;
    """
    result = run(query, populated(), WIDE)
    assert isinstance(result, list)
    assert len(result) == 4
    names = [name for name, _ in record]
    assert names == [
        "flood", "sort_by_duration", "limit_events", "sort_by_timestamp", "categorize", "tag",
        "sum_durations", "split_url_events", "filter_period_intersect", "filter_keyvals",
        "filter_keyvals_regex", "chunk_events_by_key", "merge_events_by_keys",
    ]  # fmt: skip
    calls = dict(record)
    assert calls["limit_events"][1] == 2
    assert calls["filter_keyvals"][1:] == ("$category", [["Uncategorized"]])
    assert calls["filter_keyvals_regex"][1:] == ("key", "regex")
    assert calls["merge_events_by_keys"][1] == ["key"]
    assert calls["chunk_events_by_key"][1] == "key"


# -- spec §6.2 (HTTP test_query) and §6.3 (TimeInterval) --------------------------------------


def test_http_query_cases() -> None:
    assert (
        compile_query(["return 1;"]).run(
            MemorySource(), ["2000-01-01T00:00:00Z/2020-01-01T00:00:00Z"]
        )
        == b"[1.0]"
    )
    source = MemorySource(
        {"id": [{"timestamp": "2018-01-01T01:01:01Z", "duration": 1.0, "data": {}}]}
    )
    body = compile_query(['return query_bucket("id");']).run(
        source, ["2000-01-01T00:00:00Z/2020-01-01T00:00:00Z"]
    )
    assert body == b'[[{"data":{},"duration":1.0,"id":1,"timestamp":"2018-01-01T01:01:01Z"}]]'
    with pytest.raises(QueryError) as info:
        compile_query([""]).run(MemorySource(), [DAY])
    assert info.value.body() == {"message": "EmptyQuery"}


def test_timeinterval_round_trip() -> None:
    period = "2000-01-01T00:00:00+00:00/2000-01-02T00:00:00+00:00"
    assert run("return TIMEINTERVAL;", period=period) == period


@pytest.mark.parametrize(
    ("period", "interval"),
    [
        ("2024-05-01T00:00:00+02:00/2024-05-02T00:00:00+02:00", "2024-04-30T22:00:00+00:00/2024-05-01T22:00:00+00:00"),
        ("2024-05-01T00:00:00.000Z/2024-05-02T00:00:00.000Z", "2024-05-01T00:00:00+00:00/2024-05-02T00:00:00+00:00"),
        ("2024-05-01T00:00:00.123456+00:00/2024-05-01T00:00:00.5Z", "2024-05-01T00:00:00.123456+00:00/2024-05-01T00:00:00.500+00:00"),
        ("2024-05-01T00:00:00.000000001Z/2024-05-01", "2024-05-01T00:00:00.000000001+00:00/2024-05-01T00:00:00+00:00"),
    ],
)  # fmt: skip
def test_timeinterval_is_utc_rfc3339(period: str, interval: str) -> None:
    assert run("return TIMEINTERVAL;", period=period) == interval


def test_starttime_endtime_like_python() -> None:
    period = "2024-05-01T00:00:00.123456789Z/2024-05-02T00:00:00Z"
    assert run("return [STARTTIME, ENDTIME];", period=period) == [
        "2024-05-01T00:00:00.123456+00:00",
        "2024-05-02T00:00:00+00:00",
    ]


# -- execution model (§1.4) -------------------------------------------------------------------


def test_every_period_gets_a_fresh_namespace() -> None:
    program = compile_query(
        ['if contains(query_bucket_names(), "x") { }', "n = 0;", "return TIMEINTERVAL;"]
    )
    body = program.run(
        MemorySource(),
        ["2000-01-01T00:00:00Z/2000-01-02T00:00:00Z", "2001-01-01T00:00:00Z/2001-01-02T00:00:00Z"],
    )
    assert msgspec.json.decode(body) == [
        "2000-01-01T00:00:00+00:00/2000-01-02T00:00:00+00:00",
        "2001-01-01T00:00:00+00:00/2001-01-02T00:00:00+00:00",
    ]
    # a variable set in one period does not exist in the next
    program = compile_query(
        [
            'if TIMEINTERVAL == "2000-01-01T00:00:00+00:00/2000-01-02T00:00:00+00:00" { x = 1; }',
            "return x;",
        ]
    )
    assert program.run(MemorySource(), [DAY]) == b"[1.0]"
    with pytest.raises(QueryError, match="VariableNotDefined"):
        program.run(MemorySource(), [DAY, "2001-01-01T00:00:00Z/2001-01-02T00:00:00Z"])


def test_no_periods() -> None:
    assert compile_query(["return 1;"]).run(MemorySource(), []) == b"[]"
    # upstream does not even parse the query when there are no periods
    assert run_query(["this is not a query"], MemorySource(), []) == b"[]"
    assert run_query(["return 1;"], MemorySource(), [DAY, DAY]) == b"[1.0,1.0]"


@pytest.mark.parametrize(
    "period",
    [
        "nonsense",
        "2000-01-01T00:00:00Z",
        "2000-01-01T00:00:00Z/2000-01-02T00:00:00Z/x",
        "2000-13-01/2001-01-01",
        "/",
    ],
)
def test_bad_period_is_bad_request_naming_it(period: str) -> None:
    program = compile_query(["return 1;"])
    with pytest.raises(BadRequest) as info:
        program.run(MemorySource(), [DAY, period])
    assert info.value.status == 400
    assert repr(period) in info.value.message
    with pytest.raises(BadRequest):
        run_query(["broken"], MemorySource(), [period])


def test_lenient_periods() -> None:
    assert (
        run("return TIMEINTERVAL;", period="2000-01-01/2000-01-02")
        == "2000-01-01T00:00:00+00:00/2000-01-02T00:00:00+00:00"
    )


def test_deadline() -> None:
    program = compile_query(["a = 1;"] * 10 + ["return a;"])
    with pytest.raises(QueryTimeout):
        program.run(MemorySource(), [DAY], deadline=time.monotonic() - 1)
    assert program.run(MemorySource(), [DAY], deadline=time.monotonic() + 60) == b"[1.0]"


def test_deadline_checked_before_calls() -> None:
    program = compile_query(["return [" + ", ".join(["nop()"] * 5) + "];"])
    with pytest.raises(QueryTimeout):
        # the statement check passes, the first call check fails
        program.evaluate(MemorySource(), 0, 0, deadline=time.monotonic() + 0.0)


def test_name_parameter() -> None:
    assert compile_query(["return NAME;"]).run(MemorySource(), [DAY], name="q") == b'["q"]'


def test_program_is_reusable() -> None:
    program = compile_query(['return query_bucket("b");'])
    a = MemorySource(
        {"b": [{"timestamp": "2000-01-01T01:00:00Z", "duration": 1, "data": {"n": 1}}]}
    )
    b = MemorySource({"b": []})
    assert b'"n":1' in program.run(a, [DAY])
    assert program.run(b, [DAY]) == b"[[]]"
    assert b'"n":1' in program.run(a, [DAY])


# -- semantics (§2.3) -------------------------------------------------------------------------


def test_runtime_errors_carry_positions() -> None:
    err = fails("a = 1;\nb = [1, 2,\n  nope];")
    assert err.message == 'VariableNotDefined("nope") (at line 3, column 3)'
    assert (err.line, err.column) == (3, 3)
    err = fails('x = 1;\n  y = 1 + 2 - "a";')
    assert (err.line, err.column) == (2, 13)
    err = fails('x = 1;\n  y = sort_by_timestamp(flood("x"));')
    assert err.message.startswith("InvalidFunctionParameters(")
    assert (err.line, err.column) == (2, 25)
    assert fails("if 1 { }").column == 4
    assert fails("").line is None


def test_value_semantics_and_aliasing() -> None:
    assert run("a = [1]; b = a; a = a + [2]; return [a, b];") == [[1.0, 2.0], [1.0]]
    assert run("f = contains; return f([1], 1);") is True


def test_timeinterval_can_be_reassigned(transforms: ModuleType) -> None:
    source = MemorySource({"b": [
        {"timestamp": "2020-01-01T10:00:00Z", "duration": 60, "data": {"n": 1}},
        {"timestamp": "2000-01-01T10:00:00Z", "duration": 60, "data": {"n": 2}},
    ]})  # fmt: skip
    result = run(
        'TIMEINTERVAL = "2020-01-01T00:00:00Z/2020-01-02T00:00:00Z"; return query_bucket("b");',
        source,
    )
    assert [e["data"] for e in result] == [{"n": 1}]
    assert [e["data"] for e in run('return query_bucket("b");', source)] == [{"n": 2}]


def test_query_bucket_clips_and_orders() -> None:
    """§4: events touching the period, clipped, newest (unclipped) start first."""
    t, h = T0, 3600 * S
    source = MemorySource({"b": [
        {"id": 1, "timestamp": t - 1800 * S, "duration": 3600, "data": {"n": "n1"}},
        {"id": 2, "timestamp": t + 3000 * S, "duration": 3600, "data": {"n": "n2"}},
        {"id": 3, "timestamp": t + h, "duration": 5, "data": {"n": "n3"}},
        {"id": 4, "timestamp": t - 5 * S, "duration": 5, "data": {"n": "n4"}},
        {"id": 5, "timestamp": t - 30 * h, "duration": 31 * 3600, "data": {"n": "n5"}},
        {"id": 6, "timestamp": t - 30 * h, "duration": 5, "data": {"n": "far"}},
    ]})  # fmt: skip
    result = run('return query_bucket("b");', source, "2000-01-01T00:00:00Z/2000-01-01T01:00:00Z")
    assert [(e["data"]["n"], e["timestamp"], e["duration"]) for e in result] == [
        ("n3", "2000-01-01T01:00:00Z", 0.0),
        ("n2", "2000-01-01T00:50:00Z", 600.0),
        ("n4", "2000-01-01T00:00:00Z", 0.0),
        ("n1", "2000-01-01T00:00:00Z", 1800.0),
        ("n5", "2000-01-01T00:00:00Z", 3600.0),
    ]


def test_query_bucket_reversed_period_is_empty() -> None:
    source = MemorySource(
        {"b": [{"timestamp": "2000-01-01T10:00:00Z", "duration": 3600 * 48, "data": {}}]}
    )
    assert (
        run('return query_bucket("b");', source, "2000-01-02T00:00:00Z/2000-01-01T00:00:00Z") == []
    )
    assert fails(
        'return query_bucket("c");', source, "2000-01-02T00:00:00Z/2000-01-01T00:00:00Z"
    ).message.startswith("BucketQueryError")


def test_find_bucket_and_names() -> None:
    source = MemorySource(
        {"aw-watcher-afk_b": [], "aw-watcher-afk_a": [], "aw-watcher-afk": [], "other": []},
        hostnames={"aw-watcher-afk_b": "h2", "aw-watcher-afk_a": "h1"},
    )
    # an exact match wins; otherwise the smallest matching id (Rust: HashMap order)
    assert run('return find_bucket("aw-watcher-afk");', source) == "aw-watcher-afk"
    assert run('return find_bucket("aw-watcher-afk_");', source) == "aw-watcher-afk_a"
    assert run('return find_bucket("aw-watcher-afk_", "h2");', source) == "aw-watcher-afk_b"
    assert run('return find_bucket("");', source) == "aw-watcher-afk"
    assert run("return query_bucket_names();", source) == [
        "aw-watcher-afk",
        "aw-watcher-afk_a",
        "aw-watcher-afk_b",
        "other",
    ]
    assert fails('return find_bucket("afk");', source).message.startswith("BucketQueryError(")


def test_query_bucket_eventcount() -> None:
    source = MemorySource(
        {"b": [{"timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {}}] * 3}
    )
    assert run('return query_bucket_eventcount("b");', source) == 3.0


def test_event_lists_mix_with_plain_lists() -> None:
    source = MemorySource(
        {"b": [{"timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {"a": 1}}]}
    )
    event = {"data": {"a": 1}, "duration": 1.0, "id": 1, "timestamp": "2000-01-01T10:00:00Z"}
    assert run('e = query_bucket("b"); return e + [1];', source) == [event, 1.0]
    assert run('e = query_bucket("b"); return [1] + e;', source) == [1.0, event]
    assert run('e = query_bucket("b"); return e + [] + e;', source) == [event, event]
    assert run('e = query_bucket("b"); return [] + e;', source) == [event]
    assert run('e = query_bucket("b"); return concat(e, e + e);', source) == [event] * 3
    assert run('e = query_bucket("b"); return {"x": e, "y": [e, []]};', source) == {
        "x": [event],
        "y": [[event], []],
    }
    # elements taken out of a mixed list are events again: usable as an event list
    assert run('e = query_bucket("b"); m = e + e; return sort_by_timestamp(m);', source) == [
        event,
        event,
    ]
    err = fails('e = query_bucket("b"); return sort_by_timestamp(e + [1]);', source)
    assert (
        err.message
        == 'InvalidFunctionParameters("Expected function parameter of type List of Events, list contains Number(1)") (in sort_by_timestamp, at line 1, column 31)'
    )


def test_event_equality_ignores_ids() -> None:
    source = MemorySource({
        "a": [{"id": 7, "timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {"k": 1}}],
        "b": [{"id": 9, "timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {"k": 1}}],
        "c": [{"id": 7, "timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {"k": 1.0}}],
    })  # fmt: skip
    assert run('return query_bucket("a") == query_bucket("b");', source) is True
    assert run('return query_bucket("a") == query_bucket("c");', source) is False  # 1 != 1.0
    assert run('return query_bucket("a") == ([] + query_bucket("b"));', source) is True
    assert run('return [query_bucket("a")] == [query_bucket("b") + []];', source) is True
    assert run('return contains(query_bucket("a") + [1], 1);', source) is True
    assert run('a = query_bucket("a"); return contains(a + a, 1);', source) is False
    assert run('a = query_bucket("a"); return contains([a], query_bucket("b"));', source) is True
    assert run('return query_bucket("a") == [];', source) is False


def test_builtin_argument_conversion(record: list[tuple[str, tuple[Any, ...]]]) -> None:
    run('e = []; filter_keyvals(e, "k", [1, "a", true, ["x"], print()]);'
        'exclude_keyvals(e, "k", []); limit_events(e, 2.9); limit_events(e, 0-1);'
        'limit_events(e, 1 % 0); limit_events(e, 99999999999999999999999999); return 1;')  # fmt: skip
    assert record[0][1][1:] == ("k", [1.0, "a", True, ["x"], None])
    assert record[1][1][1:] == ("k", [])
    assert [args[1] for _, args in record[2:]] == [0, 0, 0, 0]  # all clamp to len([]) == 0
    for _, args in record:
        assert isinstance(args[0], Events) and args[0].height == 0


def test_limit_events_saturating_cast(record: list[tuple[str, tuple[Any, ...]]]) -> None:
    source = MemorySource(
        {"b": [{"timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {}}] * 5}
    )
    for n, count in [
        ("2.9", 2),
        ("0-1", 0),
        ("1 % 0", 0),
        ("1e400", 5),
        ("99999999999999999999", 5),
        ("0", 0),
    ]:
        record.clear()
        n = n.replace("1e400", "9" * 400)
        run(f'limit_events(query_bucket("b"), {n}); return 1;', source)
        assert record == [("limit_events", (record[0][1][0], count))]


def test_sum_durations_is_a_number(record: list[tuple[str, tuple[Any, ...]]]) -> None:
    assert run("return sum_durations([]);") == 1.5


def test_missing_transform_is_reported(
    monkeypatch: pytest.MonkeyPatch, transforms: ModuleType
) -> None:
    monkeypatch.delattr(transforms, "flood", raising=False)
    assert (
        fails("return flood([]);").message
        == 'InvalidFunctionParameters("function flood is not available") (in flood, at line 1, column 8)'
    )


def test_debug_rendering() -> None:
    assert debug(None) == "None()"
    assert debug(1.0) == "Number(1)"
    assert debug(-0.5) == "Number(-0.5)"
    assert debug(1e20) == "Number(100000000000000000000)"
    assert debug(1e-7) == "Number(0.0000001)"
    assert debug(float("nan")) == "Number(NaN)"
    assert debug('a"b') == 'String(a"b)'
    assert debug([1.0, "a", [True]]) == "List([Number(1), String(a), List([Bool(true)])])"
    assert debug({"k\n": 1.0}) == 'Dict({"k\\n": Number(1)})'
    frame = from_columns(
        [1, None], [T0, T0], [1_500_000_000, 0], ['{"a":[1,1.5,"x",null,{"b":true}]}', "{}"]
    )
    assert debug(frame) == (
        "List([Event(Event { id: Some(1), timestamp: 2000-01-01T00:00:00Z, duration: TimeDelta { secs: 1, nanos: 500000000 }, "
        'data: {"a": Array [Number(1), Number(1.5), String("x"), Null, Object {"b": Bool(true)}]} }), '
        "Event(Event { id: None, timestamp: 2000-01-01T00:00:00Z, duration: TimeDelta { secs: 0, nanos: 0 }, data: {} })])"
    )
    long = debug([1.0] * 100_000)
    assert len(long) == DEBUG_LIMIT + 1 and long.endswith("…")


def test_deep_values_end_in_query_error() -> None:
    """Repeated statements can nest values beyond any parser cap: still a QueryError."""
    err = fails("a = [];" + "a = [a];" * 3000 + "return a == a;")
    assert "nested too deeply" in err.message
    err = fails("a = [];" + "a = [a];" * 3000 + "return a;")
    assert "nested too deeply" in err.message


def test_doubling_is_capped() -> None:
    err = fails('s = "xxxxxxxxxxxxxxxx";' + "s = s + s;" * 30 + "return 1;")
    assert "string longer than" in err.message


# -- fuzz: random programs only ever raise QueryError -----------------------------------------

_WORDS = st.sampled_from(
    [
        "a", "b", "e", "x", "RETURN", "return", "if", "elif", "else", "true", "False", "1", "0",
        "2.5", '"s"', '"b"', "'aw'", "TIMEINTERVAL", "NAME", "=", "==", "+", "-", "*", "/", "%",
        "(", ")", "[", "]", "{", "}", ",", ":", ";", ";", ";", " ", "\n",
        'query_bucket("b")', "query_bucket(", "find_bucket(", "contains(", "print(", "nop(",
        "limit_events(", "concat(", "sum_durations(", "sort_by_timestamp(", "categorize(",
        "tag(", "filter_keyvals(", "query_bucket_names(", '"2000-01-01T00:00:00Z/2000-01-02T00:00:00Z"',
        '{"type": "regex", "regex": "a"}', "[[", "]]", '{"a": 1}',
    ]
)  # fmt: skip

_FUZZ_SOURCE = MemorySource(
    {"b": [{"timestamp": "2000-01-01T10:00:00Z", "duration": 1, "data": {"a": "x"}}]}
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_WORDS, max_size=30).map(" ".join))
@example('e = query_bucket("b"); return e + [1] == e;')
@example('return contains(query_bucket("b"), query_bucket("b"));')
@example('TIMEINTERVAL = [1]; return query_bucket("b");')
@example("return tag([], [[1, 2]]);")
@example("return categorize([], [[[], {}]]);")
@example("return [print] == [print];")
@example("return 0 / 0;")
def test_run_only_raises_query_error(src: str) -> None:
    try:
        program = compile_query([src])
        program.run(_FUZZ_SOURCE, [DAY], deadline=time.monotonic() + 5)
    except QueryError as exc:
        assert exc.message.split("(")[0] in {
            "ParsingError", "EmptyQuery", "VariableNotDefined", "MathError", "InvalidType",
            "InvalidFunctionParameters", "TimeIntervalError", "BucketQueryError", "RegexCompileError",
        }  # fmt: skip


def test_non_finite_filter_value_is_refused() -> None:
    """Rust panics (HTTP 500) converting NaN/inf to JSON; here it is a client error."""
    err = fails('return filter_keyvals([], "k", [1 % 0]);')
    assert err.message.startswith(
        'InvalidFunctionParameters("Query2 support for parsing values is limited, '
        'does not support parsing Number(NaN)")'
    )


def test_api_misuse_is_bad_request() -> None:
    with pytest.raises(BadRequest):
        compile_query("return 1;")  # a string, not a list of lines
    with pytest.raises(BadRequest):
        compile_query(["return 1;", 2])  # type: ignore[list-item]
    with pytest.raises(BadRequest):
        compile_query(["return 1;"]).run(MemorySource(), [None])  # type: ignore[list-item]


# -- output: the vectorized event writer against the scalar one --------------------------------

_NS = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-(10**12), 10**12),
    st.sampled_from([0, 1, -1, 9, 500_000_000, 1_004_999_999, 10**16, 2**53 + 1]),
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.none() | st.integers(0, 2**63 - 1),
            _NS,
            _NS,
            st.sampled_from(["{}", '{"a":1.0,"é":"\\u0000"}']),
        ),
        max_size=8,
    )
)
@example([(1, T0, 1_500_000_000, '{"k":"v"}')])
def test_event_list_output_matches_scalar_writer(items: list[Row]) -> None:
    frame = frame_of(items)
    expected = b"[" + b",".join(event_json(e) for e in frame_to_events(frame)) + b"]"
    assert encode_value(frame) == expected
    assert encode_value([frame, {"x": frame}]) == b"[" + expected + b',{"x":' + expected + b"}]"
    # several different lists (written in one pass) and an empty one
    tail = frame.tail(3)
    expected_tail = b"[" + b",".join(event_json(e) for e in frame_to_events(tail)) + b"]"
    assert encode_value({"b": [tail, frame.clear()], "a": frame, "n": 1.0}) == (
        b'{"a":' + expected + b',"b":[' + expected_tail + b',[]],"n":1.0}')

"""The built-in function table of query2 (aw-server-rust set + Python-only extras).

Each built-in takes the already evaluated arguments, checks their count (exactly, except
``concat``/``print``, variadic, and ``find_bucket``, 1–2), converts them **in argument
order** (`fastaw.query.convert`), then calls the transform of the same name in
`fastaw.transforms`. Extras from the Python server: ``nop``,
``query_bucket_eventcount``, ``simplify_window_titles`` (they only turn what would be a
``VariableNotDefined`` error on aw-server-rust into a result).

``categorize`` and ``split_url_events`` leave the keys they set in an overlay
(`fastaw.transforms.overlay`). The built-ins whose transforms know overlays (those two,
merges, key filters, sorts, ``limit_events``, ``sum_durations``, ``concat``,
``period_union``) get event lists with theirs; every other one gets plain event lists
(`to_events`).
"""

from __future__ import annotations

import logging
import math
from typing import Final

from fastaw.query.convert import (
    arity,
    call_transform,
    concat_frames,
    fetch,
    frame_result,
    to_events,
    to_json,
    to_list,
    to_number,
    to_rules,
    to_string,
    to_strings,
)
from fastaw.query.diag import error
from fastaw.query.values import Builtin, Context, Event, Value, debug, deep_eq, frame_to_events
from fastaw.transforms.frame import Events

log = logging.getLogger("fastaw.query")


# -- data access --------------------------------------------------------------------------


def query_bucket(ctx: Context, args: list[Value], newest_first: bool = True) -> Value:
    arity(args, 1)
    frame, start, end = fetch(ctx, to_string(args[0]))
    if start > end:
        return frame
    return frame_result("query_bucket_clip", frame, start, end, newest_first=newest_first)


#: Built-ins that sort every event list they get by start time (stably) before anything
#: else. Their arguments that are calls of ``query_bucket`` are evaluated by
#: `query_bucket_oldest_first`: the same events in the order that sort gives them, which
#: saves reversing them twice (``flood(query_bucket(…))``, the dashboard's first step: a
#: year of window events ≈ 30 MiB less while it runs).
SORTS_FIRST: Final = frozenset({"flood", "sort_by_timestamp", "filter_period_intersect",
                                "period_union"})


def query_bucket_oldest_first(ctx: Context, args: list[Value]) -> Value:
    """``query_bucket`` for an argument of a `SORTS_FIRST` built-in: its events in the
    order a stable sort by (clipped) start time gives query_bucket's newest-first list
    (`fastaw.transforms.clip.query_bucket_clip`)."""
    return query_bucket(ctx, args, newest_first=False)


def query_bucket_names(ctx: Context, args: list[Value]) -> Value:
    arity(args, 0)
    # Rust answers in HashMap order (arbitrary); sorted is one valid, stable order.
    names: list[Value] = [*sorted(ctx.source.bucket_ids())]
    return names


def find_bucket(ctx: Context, args: list[Value]) -> Value:
    if len(args) not in (1, 2):
        arity(args, 2)
    prefix = to_string(args[0])
    hostname = to_string(args[1]) if len(args) == 2 else None
    source = ctx.source
    candidates = [
        bucket_id
        for bucket_id in source.bucket_ids()
        if bucket_id.startswith(prefix)
        and (hostname is None or source.bucket_hostname(bucket_id) == hostname)
    ]
    if prefix in candidates:
        return prefix
    if candidates:
        return min(candidates)  # Rust: the first in HashMap order; here deterministic
    if hostname is None:
        raise error("BucketQueryError", f"Failed to find bucket matching filter '{prefix}'")
    raise error(
        "BucketQueryError",
        f"Failed to find bucket matching filter '{prefix}' and hostname '{hostname}'",
    )


def query_bucket_eventcount(ctx: Context, args: list[Value]) -> Value:
    """Python extra: how many stored events touch the period (not clipped)."""
    arity(args, 1)
    frame, _, _ = fetch(ctx, to_string(args[0]))
    return float(frame.height)


# -- generic ------------------------------------------------------------------------------


def print_(ctx: Context, args: list[Value]) -> Value:
    for arg in args:
        log.info("%s", debug(arg))
    return None


def nop(ctx: Context, args: list[Value]) -> Value:
    arity(args, 0)
    return 1.0


def contains(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    container, item = args
    if isinstance(container, Events):
        if not isinstance(item, Event):
            return False  # an event list holds only events; other types are unequal
        return any(deep_eq(event, item) for event in frame_to_events(container))
    if isinstance(container, list):
        return any(deep_eq(element, item) for element in container)
    if isinstance(container, dict):
        if not isinstance(item, str):
            # sic: Rust's message shows the first argument here.
            raise error(
                "InvalidFunctionParameters",
                f"function contains got second argument {debug(container)}, expected type String",
            )
        return item in container
    raise error(
        "InvalidFunctionParameters",
        f"function contains got first argument {debug(container)}, expected type List or Dict",
    )


# -- transforms ---------------------------------------------------------------------------


def _unary(name: str, overlay: bool = False) -> Builtin:
    """A built-in ``name(events)`` calling the transform ``name(frame)`` (which knows
    overlays when ``overlay``)."""

    def call(ctx: Context, args: list[Value]) -> Value:
        arity(args, 1)
        return frame_result(name, to_events(args[0], overlay))

    return Builtin(name, call)


def _binary(name: str, overlay: bool = False) -> Builtin:
    """A built-in ``name(events1, events2)`` calling the transform of the same name (which
    knows overlays when ``overlay``)."""

    def call(ctx: Context, args: list[Value]) -> Value:
        arity(args, 2)
        first = to_events(args[0], overlay)
        return frame_result(name, first, to_events(args[1], overlay))

    return Builtin(name, call)


def _keyvals(name: str) -> Builtin:
    """``filter_keyvals`` / ``exclude_keyvals(events, key, vals)``."""

    def call(ctx: Context, args: list[Value]) -> Value:
        arity(args, 3)
        events = to_events(args[0], overlay=True)
        key = to_string(args[1])
        vals = [to_json(item) for item in to_list(args[2])]
        return frame_result(name, events, key, vals)

    return Builtin(name, call)


def filter_keyvals_regex(ctx: Context, args: list[Value]) -> Value:
    arity(args, 3)
    events = to_events(args[0], overlay=True)
    key = to_string(args[1])
    return frame_result("filter_keyvals_regex", events, key, to_string(args[2]))


def merge_events_by_keys(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    events = to_events(args[0], overlay=True)
    return frame_result("merge_events_by_keys", events, to_strings(args[1]))


def chunk_events_by_key(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    events = to_events(args[0])
    return frame_result("chunk_events_by_key", events, to_string(args[1]))


def simplify_window_titles(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    events = to_events(args[0])
    return frame_result("simplify_window_titles", events, to_string(args[1]))


def limit_events(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    events = to_events(args[0], overlay=True)
    n = to_number(args[1])
    # Rust `n as usize`: saturating; fraction truncated, NaN and negatives → 0.
    count = 0 if math.isnan(n) or n <= 0 else events.height if n >= events.height else int(n)
    return frame_result("limit_events", events, count)


def split_url_events(ctx: Context, args: list[Value]) -> Value:
    arity(args, 1)
    events = to_events(args[0], overlay=True)
    return frame_result("split_url_events", events, overlay=True)


def sum_durations(ctx: Context, args: list[Value]) -> Value:
    arity(args, 1)
    return float(call_transform("sum_durations", to_events(args[0], overlay=True)))


def concat(ctx: Context, args: list[Value]) -> Value:
    return concat_frames([to_events(arg, overlay=True) for arg in args])


def categorize(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    events = to_events(args[0])
    rules = to_rules(args[1], "category", to_strings)
    return frame_result("categorize", events, rules, overlay=True)


def tag(ctx: Context, args: list[Value]) -> Value:
    arity(args, 2)
    events = to_events(args[0])
    rules = to_rules(args[1], "tag", to_string)
    return frame_result("tag", events, rules)


def _table(*builtins: Builtin) -> dict[str, Builtin]:
    return {b.name: b for b in builtins}


#: name → function value; every evaluation starts from a copy of this.
BUILTINS: Final = _table(
    Builtin("print", print_),
    Builtin("query_bucket", query_bucket),
    Builtin("query_bucket_names", query_bucket_names),
    Builtin("find_bucket", find_bucket),
    Builtin("contains", contains),
    _unary("flood"),
    _unary("sort_by_duration", overlay=True),
    _unary("sort_by_timestamp", overlay=True),
    Builtin("split_url_events", split_url_events),
    Builtin("sum_durations", sum_durations),
    Builtin("limit_events", limit_events),
    Builtin("merge_events_by_keys", merge_events_by_keys),
    Builtin("chunk_events_by_key", chunk_events_by_key),
    _keyvals("filter_keyvals"),
    _keyvals("exclude_keyvals"),
    Builtin("filter_keyvals_regex", filter_keyvals_regex),
    _binary("filter_period_intersect"),
    _binary("period_union", overlay=True),
    _binary("union_no_overlap"),
    Builtin("concat", concat),
    Builtin("categorize", categorize),
    Builtin("tag", tag),
    # Python-only extras
    Builtin("nop", nop),
    Builtin("query_bucket_eventcount", query_bucket_eventcount),
    Builtin("simplify_window_titles", simplify_window_titles),
)

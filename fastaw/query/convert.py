"""Argument conversion for the built-ins, with aw-server-rust's error texts.

Mirrors the ``TryFrom<DataType>`` impls of `aw-query/src/datatype.rs`: every converter
either returns a plain Python value or raises ``InvalidFunctionParameters(...)`` (or, for
rule dicts, ``RegexCompileError``) naming what it got, rendered as Rust's Debug. Also the
bridge to `fastaw.transforms` (looked up when called, so this package does not depend on
which transforms exist yet) and the ``TIMEINTERVAL`` / event-source access.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

import fastaw.transforms as transforms
from fastaw.query.diag import error
from fastaw.query.values import (
    Context,
    Event,
    Value,
    debug,
    elements,
    events_to_frame,
)
from fastaw.timefmt import parse_datetime
from fastaw.transforms.errors import TransformError
from fastaw.transforms.frame import Events, empty
from fastaw.transforms.overlay import plain
from fastaw.transforms.regex import compile_regex

#: Most rows a ``concat`` or ``+`` may produce (a guard against doubling loops).
MAX_ROWS: Final = 50_000_000


# -- calling the transforms ---------------------------------------------------------------


def call_transform(name: str, *args: Any, **options: Any) -> Any:
    """Call ``fastaw.transforms.<name>(*args, **options)``; its errors become
    ``Kind("message")``."""
    fn = getattr(transforms, name, None)
    if fn is None:
        raise error("InvalidFunctionParameters", f"function {name} is not available")
    try:
        return fn(*args, **options)
    except TransformError as exc:
        raise error(exc.kind, exc.message) from exc


def frame_result(name: str, *args: Any, **options: Any) -> Events:
    """`call_transform` for a transform that returns an event list."""
    result = call_transform(name, *args, **options)
    if not isinstance(result, Events):
        raise TypeError(f"fastaw.transforms.{name} returned {type(result).__name__}")
    return result


def concat_frames(frames: list[Events]) -> Events:
    """Concatenate frames in order, through ``fastaw.transforms.concat``."""
    if not frames:
        return empty()
    if sum(f.height for f in frames) > MAX_ROWS:
        raise error("InvalidType", f"event list longer than {MAX_ROWS} events")
    if len(frames) == 1:
        return frames[0]
    return frame_result("concat", *frames)


# -- argument conversion (aw-query `datatype.rs` TryFrom impls) ---------------------------


def arity(args: list[Value], n: int) -> None:
    if len(args) != n:
        raise error(
            "InvalidFunctionParameters", f"Expected {n} parameters in function, got {len(args)}"
        )


def to_list(value: Value) -> list[Value]:
    if isinstance(value, list | Events):
        return elements(value)
    raise error(
        "InvalidFunctionParameters", f"Expected function parameter of type List, got {debug(value)}"
    )


def to_events(value: Value, overlay: bool = False) -> Events:
    """An event list argument as a frame; with its overlay only when ``overlay`` (the
    transform it is for knows overlays, see `fastaw.transforms.overlay`)."""
    if isinstance(value, Events):
        return value if overlay else plain(value)
    if not isinstance(value, list):
        raise error(
            "InvalidFunctionParameters",
            f"Expected function parameter of type List, got {debug(value)}",
        )
    events: list[Event] = []
    for item in value:
        if not isinstance(item, Event):
            raise error(
                "InvalidFunctionParameters",
                f"Expected function parameter of type List of Events, list contains {debug(item)}",
            )
        events.append(item)
    return events_to_frame(events)


def to_string(value: Value) -> str:
    if isinstance(value, str):
        return value
    # sic: Rust says "list contains" here even for a plain argument.
    raise error(
        "InvalidFunctionParameters",
        f"Expected function parameter of type String, list contains {debug(value)}",
    )


def to_strings(value: Value) -> list[str]:
    return [to_string(item) for item in to_list(value)]


def to_number(value: Value) -> float:
    if isinstance(value, float):
        return value
    raise error(
        "InvalidFunctionParameters",
        f"Expected function parameter of type Number, got {debug(value)}",
    )


def to_json(value: Value) -> Any:
    """A query value as a JSON value (None, bool, float, str, list); for filter_keyvals.

    NaN and ±inf have no JSON form: Rust panics on them (a 500); here they are refused
    like the other unsupported values.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, list | Events):
        return [to_json(item) for item in elements(value)]
    raise error(
        "InvalidFunctionParameters",
        f"Query2 support for parsing values is limited, does not support parsing {debug(value)}",
    )


def _vec_debug(items: list[Value]) -> str:
    """Rust's Debug of a bare ``Vec<DataType>`` (``[a, b]``, no ``List(...)``)."""
    text = debug(items)[len("List(") :]
    return text[:-1] if text.endswith(")") else text


def to_rule(value: Value) -> dict[str, Any]:
    """Validate one classification rule dict; return it as plain JSON-like values."""
    if not isinstance(value, dict):
        raise error("InvalidFunctionParameters", f"Expected rule dict, got {debug(value)}")
    if "type" not in value:
        raise error("InvalidFunctionParameters", "rule does not have a type")
    rtype = value["type"]
    if not isinstance(rtype, str):
        raise error("InvalidFunctionParameters", "rule type is not a string")
    if rtype == "none":
        return {"type": "none"}
    if rtype != "regex":
        raise error("InvalidFunctionParameters", f"Unknown rule type '{rtype}'")
    if "regex" not in value:
        raise error("InvalidFunctionParameters", "regex rule is missing the 'regex' field")
    regex = value["regex"]
    if not isinstance(regex, str):
        raise error(
            "InvalidFunctionParameters", "the regex field of the regex rule is not a string"
        )
    ignore_case = value.get("ignore_case", False)
    if not isinstance(ignore_case, bool):
        raise error(
            "InvalidFunctionParameters", "the ignore_case field of the regex rule is not a bool"
        )
    rule: dict[str, Any] = {"type": "regex", "regex": regex, "ignore_case": ignore_case}
    if "select_keys" in value:
        keys = value["select_keys"]
        if not isinstance(keys, list | Events):
            raise error(
                "InvalidFunctionParameters", "the select_keys field of the regex rule is not a list"
            )
        keys = elements(keys)
        if not all(isinstance(k, str) for k in keys):
            raise error(
                "InvalidFunctionParameters",
                "the select_keys field of the regex rule must contain only strings",
            )
        if not keys:
            raise error(
                "RegexCompileError",
                f"Failed to compile regex string '{regex}': 'ParseError(0, "
                'GeneralParseError("select_keys must not be empty"))',
            )
        rule["select_keys"] = keys
    try:
        compile_regex(regex, ignore_case)  # Rust compiles while converting, in rule order
    except TransformError as exc:
        raise error(exc.kind, exc.message) from exc
    return rule


def to_rules(
    value: Value, what: str, name: Callable[[Value], Any]
) -> list[tuple[Any, dict[str, Any]]]:
    """``[[name, rule], …]`` pairs (extra items ignored), converted in list order."""
    rules: list[tuple[Any, dict[str, Any]]] = []
    for item in to_list(value):
        if not isinstance(item, list | Events):
            raise error(
                "InvalidFunctionParameters",
                f"Expected function parameter of type list of ({what}, rule) tuples, got {debug(item)}",
            )
        pair = elements(item)
        label = name(pair[0]) if pair else None  # Rust converts the name first
        if len(pair) < 2:
            raise error(
                "InvalidFunctionParameters",
                f"Expected function parameter of type list of ({what}, rule) tuples, "
                f"list contains {_vec_debug(pair)}",
            )
        rules.append((label, to_rule(pair[1])))
    return rules


# -- time interval ------------------------------------------------------------------------


@lru_cache(maxsize=256)
def parse_interval(text: str) -> tuple[int, int]:
    """``"<start>/<end>"`` → (start ns, end ns); `ValueError` when malformed."""
    parts = text.split("/")
    if len(parts) != 2:
        raise ValueError(f"expected '<start>/<end>', got {text!r}")
    return parse_datetime(parts[0]), parse_datetime(parts[1])


def interval(ctx: Context) -> tuple[int, int]:
    value = ctx.env.get("TIMEINTERVAL")
    if value is None and "TIMEINTERVAL" not in ctx.env:
        raise error("TimeIntervalError", "TIMEINTERVAL not defined!")
    if not isinstance(value, str):
        raise error("TimeIntervalError", "TIMEINTERVAL is not of type string!")
    try:
        return parse_interval(value)
    except ValueError:
        raise error("TimeIntervalError", f"Failed to parse TIMEINTERVAL: {value}") from None


def fetch(ctx: Context, bucket_id: str) -> tuple[Events, int, int]:
    """The unclipped events of the bucket in the current interval (empty if start > end)."""
    start, end = interval(ctx)
    no_such = error("BucketQueryError", f'Failed to query bucket: NoSuchBucket("{bucket_id}")')
    if ctx.source.bucket_hostname(bucket_id) is None:
        raise no_such
    if start > end:
        return empty(), start, end
    try:
        return ctx.source.events(bucket_id, start, end), start, end
    except KeyError:
        raise no_such from None

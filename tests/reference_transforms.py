"""Plain scalar reference implementations of the transforms (aw-server-rust semantics).

Written from the upstream algorithms as literally as Python allows, over lists of `Ev`
objects with integer-ns times and decoded data — no Polars, no canonical text. They are
the oracles the vectorized `fastaw.transforms` are property-tested against.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import msgspec

PULSE_NS = 5_000_000_000


@dataclass(frozen=True)
class Ev:
    ts: int
    dur: int
    data: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    @property
    def end(self) -> int:
        return self.ts + self.dur


def json_eq(a: Any, b: Any) -> bool:
    """serde_json ``Value`` equality: ints and floats apart, bools apart from numbers."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    if isinstance(a, float) and isinstance(b, float):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_eq(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_eq(a[k], b[k]) for k in a)
    return False


def sort_by_timestamp(events: Sequence[Ev]) -> list[Ev]:
    return sorted(events, key=lambda e: e.ts)


def sort_by_duration(events: Sequence[Ev]) -> list[Ev]:
    return sorted(events, key=lambda e: -e.dur)


def sum_durations(events: Sequence[Ev]) -> float:
    total = sum(e.dur for e in events)
    millis = abs(total) // 1_000_000
    return (millis if total >= 0 else -millis) / 1000.0


def query_bucket_clip(events: Sequence[Ev], start: int, end: int) -> list[Ev]:
    if start > end:
        return []
    hits = [e for e in events if e.end >= start and e.ts <= end]
    hits.sort(key=lambda e: (-e.ts, e.id if e.id is not None else -1))
    out = []
    for e in hits:
        s, t = max(e.ts, start), min(e.end, end)
        out.append(replace(e, ts=s, dur=t - s))
    return out


def filter_keyvals(events: Sequence[Ev], key: str, vals: Sequence[Any]) -> list[Ev]:
    return [e for e in events if key in e.data and any(json_eq(e.data[key], v) for v in vals)]


def exclude_keyvals(events: Sequence[Ev], key: str, vals: Sequence[Any]) -> list[Ev]:
    return [
        e for e in events if not (key in e.data and any(json_eq(e.data[key], v) for v in vals))
    ]


def filter_keyvals_regex(events: Sequence[Ev], key: str, pattern: str) -> list[Ev]:
    rx = re.compile(pattern)
    return [e for e in events if isinstance(e.data.get(key), str) and rx.search(e.data[key])]


def filter_period_intersect(events: Sequence[Ev], filters: Sequence[Ev]) -> list[Ev]:
    if not events or not filters:
        return []
    evs, fls = sort_by_timestamp(events), sort_by_timestamp(filters)
    out: list[Ev] = []
    i = j = 0
    cur = evs[0]
    while True:
        f = fls[j]
        if cur.dur == 0 or cur.end <= f.ts:
            i += 1
            if i == len(evs):
                return out
            cur = evs[i]
            continue
        if cur.ts >= f.end:
            j += 1
            if j == len(fls):
                return out
            continue
        start, stop = max(cur.ts, f.ts), min(cur.end, f.end)
        out.append(replace(cur, ts=start, dur=stop - start))
        cur = replace(cur, ts=stop, dur=cur.end - stop)


def period_union(a: Sequence[Ev], b: Sequence[Ev]) -> list[Ev]:
    evs = sort_by_timestamp([*a, *b])
    out: list[Ev] = []
    for e in evs:
        if out:
            last = out[-1]
            gap = last.end < e.ts or e.end < last.ts
            if not gap:
                start = min(last.ts, e.ts)
                out[-1] = replace(last, dur=max(last.end, e.end) - start)
                continue
        out.append(e)
    return [replace(e, data={}) for e in out]


def _intersects(a: Ev, b: Ev) -> bool:
    return max(a.ts, b.ts) < min(a.end, b.end)


def _split(e: Ev, t: int) -> tuple[Ev, Ev | None]:
    if e.ts < t < e.end:
        return Ev(e.ts, t - e.ts, e.data), Ev(t, e.dur - (t - e.ts), e.data)
    return e, None


def union_no_overlap(e1: Sequence[Ev], e2: Sequence[Ev]) -> list[Ev]:
    w = list(e2)
    out: list[Ev] = []
    i = j = 0
    while i < len(e1) and j < len(w):
        a, b = e1[i], w[j]
        if _intersects(a, b):
            if a.ts <= b.ts:
                out.append(a)
                i += 1
                _, tail = _split(b, a.end)
                if tail is not None:
                    w[j] = tail
                else:
                    j += 1
            else:
                head, tail = _split(b, a.ts)
                out.append(head)
                j += 1
                if tail is not None:
                    w.insert(j, tail)
        elif a.ts <= b.ts:
            out.append(a)
            i += 1
        else:
            out.append(b)
            j += 1
    return out + list(e1[i:]) + w[j:]


def _key_text(v: str) -> str:
    return json.dumps(v, ensure_ascii=False)


def merge_events_by_keys(events: Sequence[Ev], keys: Sequence[str]) -> list[Ev]:
    if not keys:
        return []
    groups: dict[tuple[str, ...], Ev] = {}
    for e in events:
        if not all(k in e.data for k in keys):
            continue
        # type-tagged key: JSON-typed equality (1 != 1.0) per key; a tuple, where Rust
        # joins the texts with "." (and so merges (1, 5.5) with (1.5, 5))
        k = tuple(_typed_text(e.data[k]) for k in keys)
        if k in groups:
            g = groups[k]
            groups[k] = replace(g, dur=g.dur + e.dur)
        else:
            groups[k] = Ev(e.ts, e.dur, e.data, None)
    return list(groups.values())


def _typed_text(v: Any) -> str:
    """serde_json ``to_string`` of a value (floats always show a '.', 'e' or are ints)."""
    if isinstance(v, bool) or v is None:
        return {True: "true", False: "false", None: "null"}[v]
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return msgspec.json.encode(v).decode()
    if isinstance(v, str):
        return _key_text(v)
    if isinstance(v, list):
        return "[" + ",".join(_typed_text(x) for x in v) + "]"
    return "{" + ",".join(_key_text(k) + ":" + _typed_text(v[k]) for k in sorted(v)) + "}"


def chunk_events_by_key(events: Sequence[Ev], key: str) -> list[Ev]:
    out: list[Ev] = []
    last: Any = None
    for e in events:
        if key not in e.data:
            continue
        if out and json_eq(last, e.data[key]):
            out[-1] = replace(out[-1], dur=out[-1].dur + e.dur)
        else:
            out.append(e)
            last = e.data[key]
    return out


def flood(events: Sequence[Ev], pulse: int = PULSE_NS) -> list[Ev]:
    evs = sort_by_timestamp(events)
    out: list[Ev] = []
    k = 0
    gap_prev: int | None = None
    retry: Ev | None = None
    while True:
        if retry is not None:
            e1, retry = retry, None
        elif k < len(evs):
            e1 = evs[k]
            k += 1
        else:
            break
        if gap_prev is not None:
            e1 = replace(e1, ts=e1.ts - gap_prev // 2, dur=e1.dur + gap_prev // 2)
            gap_prev = None
        if k >= len(evs):
            out.append(e1)
            break
        e2 = evs[k]
        gap = e2.ts - e1.end
        if gap < 0:
            if json_eq(e1.data, e2.data):
                start, stop = min(e1.ts, e2.ts), max(e1.end, e2.end)
                retry = replace(e1, ts=start, dur=stop - start)
                k += 1
                continue
        elif gap < pulse:
            if json_eq(e1.data, e2.data):
                start, stop = min(e1.ts, e2.ts), max(e1.end, e2.end)
                retry = replace(e1, ts=start, dur=stop - start)
                k += 1
                continue
            e1 = replace(e1, dur=e1.dur + gap // 2)
            gap_prev = gap
        out.append(e1)
    return out


# --- categorize / tag (rules already validated; regex = a search callable) ---------------

Matcher = Callable[[str], bool]


def _rule_matches(data: dict[str, Any], matcher: Matcher | None, select: list[str] | None) -> bool:
    if matcher is None:
        return False
    values = [data[k] for k in select if k in data] if select is not None else list(data.values())
    return any(isinstance(v, str) and matcher(v) for v in values)


def categorize(
    events: Sequence[Ev], rules: Sequence[tuple[list[str], Matcher | None, list[str] | None]]
) -> list[Ev]:
    out = []
    for e in events:
        cat: list[str] = ["Uncategorized"]
        for name, matcher, select in rules:
            if _rule_matches(e.data, matcher, select) and len(name) >= len(cat):
                cat = name
        out.append(replace(e, data={**e.data, "$category": list(cat)}))
    return out


def tag(
    events: Sequence[Ev], rules: Sequence[tuple[str, Matcher | None, list[str] | None]]
) -> list[Ev]:
    out = []
    for e in events:
        tags = sorted({name for name, m, sel in rules if _rule_matches(e.data, m, sel)})
        out.append(replace(e, data={**e.data, "$tags": tags}))
    return out


# --- split_url_events (WHATWG subset that the reference can compute with urllib) ---------


def split_url_events(events: Sequence[Ev]) -> list[Ev]:
    """Reference for *simple* absolute URLs only (ASCII hosts, no odd escapes)."""
    out = []
    for e in events:
        url = e.data.get("url")
        if not isinstance(url, str):
            out.append(e)
            continue
        p = urllib.parse.urlsplit(url)
        if not p.scheme:
            out.append(e)
            continue
        host = (p.hostname or "").lower()
        while host.startswith("www."):
            host = host[4:]
        path = p.path or ("/" if p.scheme in ("http", "https", "ws", "wss", "ftp", "file") else "")
        data = {
            **e.data,
            "$protocol": p.scheme.lower(),
            "$domain": host or p.scheme.lower(),
            "$path": path,
            "$params": p.query,
        }
        out.append(replace(e, data=data))
    return out

"""Benchmark the vectorized transforms on seeded synthetic window/afk buckets.

    .venv/bin/python bench/bench_transforms.py            # 10k, 100k, 1M window events
    .venv/bin/python bench/bench_transforms.py 1000000    # one size

Data: window events back to back over a year-like span (mean 31 s each, most gaps 0–3 s),
~150 apps and a Zipf-like pool of titles (so ~n/15 distinct (app, title) data texts), afk
events alternating every 5–60 min, and ~30 category rules like the dashboard's defaults.
Prints best-of-3 wall time per transform and for the dashboard's fullDesktopQuery
pipeline (Appendix A of spec/query.md, no browser buckets).
"""

from __future__ import annotations

import random
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec
import polars as pl

from fastaw import transforms as tf
from fastaw.columnar import chunk_frame, new_chunk
from fastaw.storage.chunks import Chunk
from fastaw.transforms import frame

S = 1_000_000_000
T0 = 1_700_000_000 * S
ENC = msgspec.json.Encoder(order="sorted")

APPS = [f"app-{i}" for i in range(140)] + [
    "Firefox", "Google-chrome", "code", "Slack", "Spotify", "thunderbird", "vim", "Telegram",
    "Discord", "Blender",
]  # fmt: skip
WORDS = [
    "GitHub",
    "issue",
    "pull",
    "request",
    "YouTube",
    "reddit",
    "Google",
    "Docs",
    "report",
    "budget",
    "meeting",
    "notes",
    "ActivityWatch",
    "aw-server",
    "Inbox",
    "Gmail",
    "Minecraft",
    "Spotify",
    "draft",
    "review",
    "plan",
    "design",
]

RULES: list[list[Any]] = [
    [["Work"], {"type": "regex", "regex": "Google Docs|libreoffice|ReText"}],
    [["Work", "Programming"], {"type": "regex", "regex": "GitHub|Stack Overflow|BitBucket|Gitlab|vim|Spyder|kate|Ghidra|Scite"}],
    [["Work", "Programming", "ActivityWatch"], {"type": "regex", "regex": "ActivityWatch|aw-", "ignore_case": True}],
    [["Work", "Image"], {"type": "regex", "regex": "Gimp|Inkscape"}],
    [["Work", "Video"], {"type": "regex", "regex": "Kdenlive"}],
    [["Work", "Audio"], {"type": "regex", "regex": "Audacity"}],
    [["Work", "3D"], {"type": "regex", "regex": "Blender"}],
    [["Media"], {"type": "none"}],
    [["Media", "Games"], {"type": "regex", "regex": "Minecraft|RimWorld"}],
    [["Media", "Video"], {"type": "regex", "regex": "YouTube|Plex|VLC"}],
    [["Media", "Social Media"], {"type": "regex", "regex": "reddit|Facebook|Twitter|Instagram|devRant", "ignore_case": True}],
    [["Media", "Music"], {"type": "regex", "regex": "Spotify|Deezer", "ignore_case": True}],
    [["Comms"], {"type": "none"}],
    [["Comms", "IM"], {"type": "regex", "regex": "Messenger|Telegram|Signal|WhatsApp|Rambox|Slack|Riot|Element|Discord|Nheko|NeoChat|Mattermost"}],
    [["Comms", "Email"], {"type": "regex", "regex": "Gmail|Thunderbird|mutt|alpine", "ignore_case": True}],
    [["Uncategorized"], {"type": "none"}],
    *[
        [["Work", "Project", f"P{i}"], {"type": "regex", "regex": f"project-{i}\\b|ticket {i}\\d\\d", "select_keys": ["title"]}]
        for i in range(12)
    ],
    [["Work", "Docs"], {"type": "regex", "regex": "(?i)\\breport\\b(?!.*draft)"}],
    [["Work", "Meetings"], {"type": "regex", "regex": "^(meeting|call) ", "ignore_case": True}],
]  # fmt: skip


def window_events(n: int, seed: int = 1) -> pl.DataFrame:
    rng = random.Random(seed)
    titles = [
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 6))) + f" project-{i % 40}"
        for i in range(max(n // 15, 10))
    ]
    datas = [
        ENC.encode({"app": APPS[i % len(APPS)], "title": titles[i]}).decode()
        for i in range(len(titles))
    ]
    picks = [min(int(rng.paretovariate(0.6)) - 1, len(datas) - 1) for _ in range(n)]
    ts, durs = [], []
    t = T0
    for _ in range(n):
        d = int(rng.expovariate(1 / 28) * S)
        ts.append(t)
        durs.append(d)
        t += d + (0 if rng.random() < 0.6 else int(rng.random() * 3 * S))
    return frame.from_columns(list(range(1, n + 1)), ts, durs, [datas[p] for p in picks])


def afk_events(start: int, end: int, seed: int = 2) -> pl.DataFrame:
    rng = random.Random(seed)
    ts, durs, datas = [], [], []
    t, afk = start, False
    while t < end:
        d = rng.randint(5 * 60, 60 * 60) * S
        ts.append(t)
        durs.append(d)
        datas.append('{"status":"afk"}' if afk else '{"status":"not-afk"}')
        afk = not afk
        t += d + rng.randint(0, 2) * S
    return frame.from_columns(list(range(1, len(ts) + 1)), ts, durs, datas)


def best(fn: Callable[[], Any], runs: int = 3) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def full_desktop_query(window: pl.DataFrame, afk: pl.DataFrame, lo: int, hi: int) -> Any:
    events = tf.flood(tf.query_bucket_clip(window, lo, hi))
    not_afk = tf.flood(tf.query_bucket_clip(afk, lo, hi))
    not_afk = tf.filter_keyvals(not_afk, "status", ["not-afk"])
    events = tf.filter_period_intersect(events, not_afk)
    stopwatch = tf.query_bucket_clip(frame.empty(), lo, hi)
    events = tf.union_no_overlap(stopwatch, events)
    events = tf.categorize(events, RULES)
    title_events = tf.sort_by_duration(tf.merge_events_by_keys(events, ["app", "title"]))
    app_events = tf.sort_by_duration(tf.merge_events_by_keys(title_events, ["app"]))
    cat_events = tf.sort_by_duration(tf.merge_events_by_keys(events, ["$category"]))
    app_events = tf.limit_events(app_events, 100)
    title_events = tf.limit_events(title_events, 100)
    duration = tf.sum_durations(events)
    browser = tf.split_url_events(frame.empty())
    urls = tf.limit_events(tf.sort_by_duration(tf.merge_events_by_keys(browser, ["url"])), 100)
    return [
        tf.to_json_bytes(x) for x in (app_events, title_events, cat_events, not_afk, urls)
    ], duration


def bench(n: int) -> list[tuple[str, float]]:
    window = window_events(n)
    last = window["timestamp"].max()
    longest = window["duration"].max()
    assert isinstance(last, int) and isinstance(longest, int)
    end = last + longest
    afk = afk_events(T0 - 3600 * S, end)
    lo, hi = T0, end
    clipped = tf.query_bucket_clip(window, lo, hi)
    stored = frame.stored(window)
    made = new_chunk(0, 0, 0, stored)
    codes = struct.pack(f"<{len(made.texts)}I", *range(len(made.texts)))
    chunk = Chunk(0, memoryview(codes), memoryview(made.blob))
    flooded = tf.flood(clipped)
    not_afk = tf.filter_keyvals(tf.flood(tf.query_bucket_clip(afk, lo, hi)), "status", ["not-afk"])
    active = tf.filter_period_intersect(flooded, not_afk)
    categorized = tf.categorize(active, RULES)
    descending = tf.sort_by_timestamp(active).reverse()
    urls = window.with_columns(
        data=pl.concat_str(
            pl.lit('{"url":"https://www.site'),
            (pl.col("id") % 5000).cast(pl.String),
            pl.lit('.com/p"}'),
        )
    )
    cases: list[tuple[str, Callable[[], Any]]] = [
        ("query_bucket_clip", lambda: tf.query_bucket_clip(window, lo, hi)),
        ("flood", lambda: tf.flood(clipped)),
        ("filter_keyvals (app)", lambda: tf.filter_keyvals(flooded, "app", ["Firefox", "code"])),
        ("filter_keyvals_regex", lambda: tf.filter_keyvals_regex(flooded, "app", "(?i)^(google[-_ ]?chrome|chrome|chromium)")),
        ("filter_period_intersect", lambda: tf.filter_period_intersect(flooded, not_afk)),
        ("period_union", lambda: tf.period_union(not_afk, flooded)),
        ("union_no_overlap (loop)", lambda: tf.union_no_overlap(not_afk, descending)),
        ("categorize (30 rules)", lambda: tf.categorize(active, RULES)),
        ("tag (30 rules)", lambda: tf.tag(active, [["/".join(r[0]), r[1]] for r in RULES])),
        ("merge_events_by_keys app,title", lambda: tf.merge_events_by_keys(categorized, ["app", "title"])),
        ("merge_events_by_keys $category", lambda: tf.merge_events_by_keys(categorized, ["$category"])),
        ("chunk_events_by_key app", lambda: tf.chunk_events_by_key(active, "app")),
        ("sort_by_duration", lambda: tf.sort_by_duration(active)),
        ("sum_durations", lambda: tf.sum_durations(active)),
        ("split_url_events (5k urls)", lambda: tf.split_url_events(urls)),
        ("to_json_bytes", lambda: tf.to_json_bytes(active)),
        ("new_chunk (chunk of a window)", lambda: new_chunk(0, 0, 0, stored)),
        ("chunk_frame (its rows back)", lambda: chunk_frame(chunk)),
        ("fullDesktopQuery", lambda: full_desktop_query(window, afk, lo, hi)),
    ]  # fmt: skip
    return [(name, best(fn)) for name, fn in cases]


def main() -> None:
    sizes = [int(a) for a in sys.argv[1:]] or [10_000, 100_000, 1_000_000]
    results = {n: dict(bench(n)) for n in sizes}
    names = list(next(iter(results.values())))
    print(f"polars {pl.__version__}, {pl.thread_pool_size()} threads; best of 3, ms")
    print(f"{'transform':34}" + "".join(f"{n:>12,}" for n in sizes))
    for name in names:
        print(f"{name:34}" + "".join(f"{results[n][name] * 1000:12.1f}" for n in sizes))


if __name__ == "__main__":
    main()

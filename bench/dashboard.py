"""The web dashboard's queries, built the way aw-webui builds them (spec/query.md App. A).

`full_desktop_query` is the Activity view's ``fullDesktopQuery`` (``canonicalEvents`` with
AFK filtering, audible browser tabs counted as active, one block per browser bucket,
categorization, then the merges, limits and sums of the view), as a list of statements,
one per array element, like the webui's ``querystr_to_array``. `CATEGORIES` has the
structure of the webui's default categories (Work › Programming › ActivityWatch, Media,
Comms, Uncategorized, …); the rules are our own, matched to the generated apps and sites.
"""

from __future__ import annotations

import json
from typing import Any, Final

Rule = dict[str, Any]


def _regex(pattern: str, ignore_case: bool = False) -> Rule:
    rule: Rule = {"type": "regex", "regex": pattern}
    if ignore_case:
        rule["ignore_case"] = True
    return rule


CATEGORIES: Final[list[tuple[list[str], Rule]]] = [
    (["Work"], _regex("Google Docs|libreoffice|LibreOffice|ReText|Zotero|confluence|jira")),
    (["Work", "Programming"], _regex(
        "GitHub|Stack Overflow|BitBucket|Gitlab|vim|Visual Studio Code|PyCharm|Alacritty|"
        "gnome-terminal|DBeaver|Postman|docs[.]rs|crates[.]io|PyPI|[.]py$|cargo|make test",
        ignore_case=True)),
    (["Work", "Programming", "ActivityWatch"], _regex("ActivityWatch|aw-", ignore_case=True)),
    (["Work", "Programming", "fastaw"], _regex("fastaw|Polars|LMDB")),
    (["Work", "Image"], _regex("GIMP|Inkscape|Image Manipulation|Image Viewer")),
    (["Work", "Video"], _regex("Kdenlive")),
    (["Work", "Audio"], _regex("Audacity")),
    (["Work", "3D"], _regex("Blender")),
    (["Media", "Games"], _regex("Minecraft|RimWorld|steam|Friends List")),
    (["Media", "Video"], _regex("YouTube|Plex|VLC|Netflix|Twitch|mpv")),
    (["Media", "Social Media"], _regex(
        "reddit|Facebook|Twitter|Instagram|devRant|LinkedIn|Hacker News|x[.]com",
        ignore_case=True)),
    (["Media", "Music"], _regex("Spotify|Deezer", ignore_case=True)),
    (["Comms", "IM"], _regex(
        "Messenger|Telegram|Signal|WhatsApp|Rambox|Slack|Riot|Element|Discord|Nheko|"
        "NeoChat|Mattermost")),
    (["Comms", "Email"], _regex("Gmail|Thunderbird|mutt|alpine")),
    (["Comms", "Meetings"], _regex("Zoom|Google Meet", ignore_case=True)),
    (["Uncategorized"], {"type": "none"}),
]

#: (name, exact app ids, app regex) of the browsers the webui knows that we generate.
BROWSERS: Final = {
    "chrome": (["com.google.Chrome", "org.chromium.Chromium"],
               "(?i)^(google[-_ ]?chrome|chrome|chromium)"),
    "firefox": (["org.mozilla.firefox"], "(?i)(firefox|librewolf|waterfox|nightly)"),
}


def _q(text: str) -> str:
    """A double-quoted query string literal (bucket ids are escaped like the webui does)."""
    return '"' + text.replace('"', '\\"') + '"'


def categories_literal(categories: list[tuple[list[str], Rule]] = CATEGORIES) -> str:
    """``JSON.stringify(categories)`` with ``\\\\`` collapsed to ``\\`` (the webui's way)."""
    text = json.dumps([[name, rule] for name, rule in categories], ensure_ascii=False,
                      separators=(",", ":"))
    return text.replace("\\\\", "\\")


def canonical_events(hostname: str, browser_buckets: dict[str, str], *,
                     categories: list[tuple[list[str], Rule]] | None = CATEGORIES,
                     filter_afk: bool = True, include_audible: bool = True) -> list[str]:
    """The ``canonicalEvents`` statements for a desktop host (no stopwatch bucket)."""
    lines = [
        f"events = flood(query_bucket({_q('aw-watcher-window_' + hostname)}));",
        f"not_afk = flood(query_bucket({_q('aw-watcher-afk_' + hostname)}));",
        'not_afk = filter_keyvals(not_afk, "status", ["not-afk"]);',
    ]
    if browser_buckets:
        lines.append("browser_events = [];")
        for name, bucket_id in browser_buckets.items():
            exact, pattern = BROWSERS[name]
            lines += [
                f"events_{name} = flood(query_bucket({_q(bucket_id)}));",
                f'window_{name} = filter_keyvals(events, "app", {json.dumps(exact)});',
                f'window_{name}_re = filter_keyvals_regex(events, "app", {_q(pattern)});',
                f"window_{name} = sort_by_timestamp(concat(window_{name}, window_{name}_re));",
                f"events_{name} = filter_period_intersect(events_{name}, window_{name});",
                f"events_{name} = split_url_events(events_{name});",
                f"browser_events = concat(browser_events, events_{name});",
                "browser_events = sort_by_timestamp(browser_events);",
            ]
        if include_audible:
            lines += ['audible_events = filter_keyvals(browser_events, "audible", [true]);',
                      "not_afk = period_union(not_afk, audible_events);"]
    if filter_afk:
        lines.append("events = filter_period_intersect(events, not_afk);")
    lines.append("stopwatch_events = [];")
    if categories:
        lines.append(f"events = categorize(events, {categories_literal(categories)});")
    return lines


def _top(name: str, source: str, keys: str) -> list[str]:
    return [f"{name} = merge_events_by_keys({source}, {keys});",
            f"{name} = sort_by_duration({name});",
            f"{name} = limit_events({name}, 100);"]


def full_desktop_query(hostname: str, browser_buckets: dict[str, str],
                       categories: list[tuple[list[str], Rule]] | None = CATEGORIES
                       ) -> list[str]:
    """The Activity view's ``fullDesktopQuery`` as the webui sends it."""
    lines = canonical_events(hostname, browser_buckets, categories=categories)
    if not browser_buckets:
        lines.append("browser_events = [];")
    lines += [
        'title_events = sort_by_duration(merge_events_by_keys(events, ["app", "title"]));',
        'app_events   = sort_by_duration(merge_events_by_keys(title_events, ["app"]));',
        'cat_events   = sort_by_duration(merge_events_by_keys(events, ["$category"]));',
        "app_events  = limit_events(app_events, 100);",
        "title_events  = limit_events(title_events, 100);",
        "duration = sum_durations(events);",
        "browser_events = split_url_events(browser_events);",
        *_top("browser_urls", "browser_events", '["url"]'),
        *_top("browser_domains", "browser_events", '["$domain"]'),
        *_top("browser_titles", "browser_events", '["title"]'),
        "browser_duration = sum_durations(browser_events);",
        *_top("stopwatch_events", "stopwatch_events", '["label"]'),
        'RETURN = {"window": {"app_events": app_events, "title_events": title_events, '
        '"cat_events": cat_events, "active_events": not_afk, "duration": duration}, '
        '"browser": {"domains": browser_domains, "urls": browser_urls, '
        '"titles": browser_titles, "duration": browser_duration}, '
        '"stopwatch": {"stopwatch_events": stopwatch_events}};',
    ]
    return lines


def apps_query(hostname: str) -> list[str]:
    """A simple query: the window events merged by app, longest first."""
    return [
        f"events = flood(query_bucket({_q('aw-watcher-window_' + hostname)}));",
        'events = merge_events_by_keys(events, ["app"]);',
        "RETURN = sort_by_duration(events);",
    ]

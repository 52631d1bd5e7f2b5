"""simplify_window_titles: the aw-core (Python-only) title clean-up, per distinct data."""

from __future__ import annotations

import re
from typing import Final

from fastaw.transforms.distinct import DistinctData
from fastaw.transforms.errors import InvalidParameters
from fastaw.transforms.frame import Events
from fastaw.transforms.jsondata import JSONObject

_COUNTER: Final = re.compile(r"^\(\d+\)\s*")
_FPS: Final = re.compile(r"FPS:\s+[0-9.]+")
_MODIFIED: Final = re.compile(r"^[●*]\s*")


def simplify_string(text: str, key: str, has_app: bool) -> str:
    """``(99) Facebook`` → ``Facebook``; for titles: ``FPS: 60.1`` → ``FPS: ...``, ``● x`` → ``x``."""
    text = _COUNTER.sub("", text)
    if key == "title" and has_app:
        text = _FPS.sub("FPS: ...", text)
        text = _MODIFIED.sub("", text)
    return text


def simplify_window_titles(events: Events, key: str) -> Events:
    """Python aw-core extension: strip unread counters / FPS / modified markers from ``key``.

    ::

        [title: "(2) YouTube"] [title: "● a.md - Code", app: code]   →   [YouTube] [a.md - Code]

    A missing ``key`` is an error, as upstream (where it is a KeyError).
    """
    if events.height == 0:
        return events
    dd = DistinctData(events["data"])

    def fix(obj: JSONObject) -> JSONObject | None:
        if key not in obj:
            raise InvalidParameters(f"simplify_window_titles: event has no data key '{key}'")
        value = obj[key]
        if not isinstance(value, str):
            return None
        new = simplify_string(value, key, "app" in obj)
        return None if new == value else {**obj, key: new}

    return events.with_columns(data=dd.rewrite(fix))

"""One synthetic desktop: the buckets its watchers fill and the events of any one day.

`Desktop.day(ordinal)` returns that day's events for every bucket. It depends only on the
seed, the spec and the day, never on which other days are generated, so "the last year
of a ten-year history" is exactly "a one-year history" ending on the same date.

Consistency kept between the buckets (what real watchers produce):
* ``aw-watcher-afk``: while the computer is on, ``not-afk`` and ``afk`` events alternate
  and cover it without gaps; nothing while it is suspended (most nights).
* ``aw-watcher-window``: window events cover every block the computer is on; the user
  switches windows only while not afk, so the window focused when a break begins is
  extended over the break (as the real watcher's heartbeats do). Gaps of up to a second
  between events mimic the watcher's polling.
* ``aw-watcher-web-<browser>``: one event per focused browser window event, inside it,
  with the page's URL and title (the window title is the page title plus the browser's
  suffix), ``audible``, ``incognito`` and ``tabCount``.
* ``aw-watcher-vscode``: one event per focused VS Code window event, within its active
  part, with the file, its project and its language.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from typing import Final, NamedTuple

import msgspec

from fastaw.datagen import vocab
from fastaw.datagen.schedule import active_seconds_per_year, day_blocks
from fastaw.models import Event, canonical_data

_EPOCH: Final = dt.date(1970, 1, 1).toordinal()
_US: Final = 1_000  # ns per µs: timestamps have the microsecond precision watchers send
_ERA_DAYS: Final = 91
_WORKING_SET: Final = 7
_CACHE_LIMIT: Final = 200_000
_json: Final = msgspec.json.Encoder()


class BucketDef(NamedTuple):
    key: str  # short name inside the generator
    prefix: str  # bucket id = prefix + "_" + hostname
    type: str
    client: str


WINDOW: Final = BucketDef("window", "aw-watcher-window", "currentwindow", "aw-watcher-window")
AFK: Final = BucketDef("afk", "aw-watcher-afk", "afkstatus", "aw-watcher-afk")
CHROME: Final = BucketDef("chrome", "aw-watcher-web-chrome", "web.tab.current", "aw-client-web")
FIREFOX: Final = BucketDef("firefox", "aw-watcher-web-firefox", "web.tab.current",
                           "aw-client-web")
EDITOR: Final = BucketDef("editor", "aw-watcher-vscode", "app.editor.activity",
                          "aw-watcher-vscode")
_SUFFIX: Final = {"chrome": " - Google Chrome", "firefox": " — Mozilla Firefox"}


@dataclass(frozen=True)
class Spec:
    """What to generate. ``years`` may be fractional; the history ends at ``end`` (local
    midnight, exclusive) in a fixed UTC offset."""

    seed: int = 1
    years: float = 1.0
    events_per_year: int = 1_000_000
    end: dt.date = dt.date(2026, 1, 1)
    utc_offset_minutes: int = 60
    hostname: str = "laptop"
    browsers: bool = True
    editor: bool = True
    buckets: tuple[BucketDef, ...] = field(init=False)

    def __post_init__(self) -> None:
        chosen = [WINDOW, AFK]
        if self.browsers:
            chosen += [CHROME, FIREFOX]
        if self.editor:
            chosen.append(EDITOR)
        object.__setattr__(self, "buckets", tuple(chosen))

    @property
    def first_day(self) -> int:
        return self.end.toordinal() - max(1, round(self.years * 365.2425))

    @property
    def days(self) -> range:
        """Ordinals of the generated days, oldest first."""
        return range(self.first_day, self.end.toordinal())

    def bucket_id(self, bucket: BucketDef) -> str:
        return f"{bucket.prefix}_{self.hostname}"

    def day_start_ns(self, ordinal: int) -> int:
        """Local midnight of a day, as UTC ns."""
        return ((ordinal - _EPOCH) * 86_400 - self.utc_offset_minutes * 60) * 1_000_000_000


class _Window(NamedTuple):
    data: bytes
    kind: str  # "chrome", "firefox", "editor" or "" (no sub-watcher)
    extra: bytes  # the sub-watcher's data, without the per-event fields


DayEvents = dict[str, list[Event]]


class Desktop:
    """The generator: `day` gives the events of one day for every bucket of the spec."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.seed = spec.seed
        self.rate = spec.events_per_year / active_seconds_per_year()  # switches per second
        self.apps = vocab.Zipf(len(vocab.HEAD_APPS) + vocab.TAIL_APPS, 1.15)
        self.titles = vocab.Zipf(5_000, 1.2)
        self.domains = vocab.Zipf(len(vocab.HEAD_DOMAINS) + vocab.TAIL_DOMAINS, 1.1)
        self.pages = vocab.Zipf(3_000, 1.15)
        self.projects = vocab.Zipf(120, 1.3)
        self.files = vocab.Zipf(500, 1.1)
        self._cache: dict[tuple[int, ...], _Window] = {}
        self._apps: dict[int, vocab.App] = dict(enumerate(vocab.HEAD_APPS))

    # -- windows ---------------------------------------------------------------------------
    def _app(self, rank: int) -> vocab.App:
        app = self._apps.get(rank)
        if app is None:
            app = self._apps[rank] = vocab.tail_app(self.seed, rank)
        return app

    def _fresh(self, rng: random.Random, era: int) -> _Window:
        """A newly chosen window: app by popularity, then a title/page/file of that app."""
        app_rank = self.apps.draw(rng)
        app = self._app(app_rank)
        if app.kind in _SUFFIX:
            domain, page = self.domains.draw(rng), self.pages.draw(rng)
            key: tuple[int, ...] = (app_rank, domain, page, era if page >= 20 else -1)
        elif app.kind == "editor":
            project = self.projects.draw(rng)
            if project >= 3:  # most projects come and go over the years
                project += era // 2 * 37
            key = (app_rank, project, self.files.draw(rng), int(rng.random() < 0.1))
        else:
            title = self.titles.draw(rng)
            key = (app_rank, title, era if title >= 15 else -1)
        window = self._cache.get(key)
        if window is None:
            window = self._make(app_rank, app, key)
            self._cache[key] = window
        return window

    def _make(self, app_rank: int, app: vocab.App, key: tuple[int, ...]) -> _Window:
        if app.kind in _SUFFIX:
            page = vocab.make_page(self.seed, key[1], key[2], key[3])
            title = page.title + _SUFFIX[app.kind]
            extra = b"".join((b',"title":', _json.encode(page.title), b',"url":',
                              _json.encode(page.url), b"}"))
            kind = app.kind + ("!" if page.audible else "")
        elif app.kind == "editor":
            source = vocab.make_file(self.seed, key[1], key[2])
            name = source.path.rsplit("/", 1)[1]
            title = f"{'● ' if key[3] else ''}{name} - {source.project.rsplit('/', 1)[1]}" \
                    " - Visual Studio Code"
            extra = canonical_data({"file": source.path, "language": source.language,
                                    "project": source.project})
            kind = "editor"
        else:
            title = vocab.make_title(self.seed, app_rank, app, key[1], key[2])
            extra, kind = b"", ""
        return _Window(canonical_data({"app": app.name, "title": title}), kind, extra)

    # -- one day ---------------------------------------------------------------------------
    def day(self, ordinal: int) -> DayEvents:
        """Every bucket's events of one day (window, afk, browsers, editor), oldest first."""
        spec = self.spec
        era = (ordinal - _EPOCH) // _ERA_DAYS
        if len(self._cache) > _CACHE_LIMIT:  # old eras' titles are not drawn any more
            self._cache.clear()
        rng = vocab.keyed(self.seed, 7, ordinal)
        out: DayEvents = {bucket.key: [] for bucket in spec.buckets}
        base_us = spec.day_start_ns(ordinal) // _US
        tabs = rng.randint(3, 40)
        for block in day_blocks(self.seed, ordinal, rng):
            # (start µs, end µs, active end µs, window) of each focused window in the block
            focus: list[tuple[int, int, int, _Window]] = []
            working: list[_Window] = []
            for run in block.runs:
                start = base_us + round(run.start * 1e6)
                end = base_us + round(run.end * 1e6)
                status = b'{"status":"not-afk"}' if run.active else b'{"status":"afk"}'
                out["afk"].append(Event(None, start * _US, (end - start) * _US, status))
                if not run.active:
                    if focus:  # the focused window stays focused while the user is away
                        s, _, active_end, w = focus[-1]
                        focus[-1] = (s, end, active_end, w)
                    continue
                self._switches(rng, era, start, end, focus, working)
            self._emit(rng, focus, out, tabs)
        return out

    def _switches(self, rng: random.Random, era: int, start: int, end: int,
                  focus: list[tuple[int, int, int, _Window]], working: list[_Window]) -> None:
        """Window switches during one active run ``[start, end)`` (µs)."""
        length = end - start
        expected = length / 1e6 * self.rate
        count = max(1, int(expected + rng.random()))
        r = rng.random
        # Pareto-tailed shares of the run: many short focus spans, a few long ones.
        weights = [(1.0 - r()) ** -0.8 for _ in range(count)]
        total = sum(weights)
        acc = 0.0
        bounds = [start]
        for weight in weights:
            acc += weight
            bounds.append(start + round(length * acc / total))
        bounds[-1] = end
        current = focus[-1][3] if focus else None
        for i in range(count):
            if working and r() < 0.6:
                window = working[int(r() ** 2 * len(working))]
                if window is current:
                    window = self._fresh(rng, era)
            else:
                window = self._fresh(rng, era)
            if window is current and focus:  # same window again: the event just goes on
                s, _, _, w = focus[-1]
                focus[-1] = (s, bounds[i + 1], bounds[i + 1], w)
                continue
            if window in working:
                working.remove(window)
            working.insert(0, window)
            del working[_WORKING_SET:]
            focus.append((bounds[i], bounds[i + 1], bounds[i + 1], window))
            current = window

    def _emit(self, rng: random.Random, focus: list[tuple[int, int, int, _Window]],
              out: DayEvents, tabs: int) -> None:
        """Turn the focused-window spans into window, browser and editor events."""
        windows = out["window"]
        browsers = self.spec.browsers
        editor = self.spec.editor
        for start, end, active_end, window in focus:
            length = end - start
            if length > 2_000 and rng.random() < 0.3:  # the watcher polls once a second
                length -= rng.randrange(0, min(900_000, length // 2))
            windows.append(Event(None, start * _US, length * _US, window.data))
            kind = window.kind
            if not kind:
                continue
            delay = rng.randrange(0, 300_000) if length > 600_000 else 0
            if kind == "editor":
                if editor:
                    active = max(0, min(active_end, start + length) - start - delay)
                    span = round(active * rng.uniform(0.3, 1.0))
                    out["editor"].append(Event(None, (start + delay) * _US, span * _US,
                                               window.extra))
            elif browsers:
                tabs = max(1, tabs + rng.choice((-1, 0, 0, 0, 1)))
                audible = kind.endswith("!") and rng.random() < 0.7
                data = b"".join((b'{"audible":true' if audible else b'{"audible":false',
                                 b',"incognito":false,"tabCount":', str(tabs).encode(),
                                 window.extra))
                out[kind.rstrip("!")].append(Event(None, (start + delay) * _US,
                                                   (length - delay) * _US, data))

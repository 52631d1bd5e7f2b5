"""What the synthetic desktop is made of: apps, window titles, web pages, editor files.

Everything is a pure function of ``(seed, key)``: the title of an app's title number
``rank`` in era ``era`` is always the same string for the same seed, however much history
is generated and in whatever order. Popularity is heavy-tailed: apps, titles, domains,
pages, projects and files are drawn from truncated Zipf distributions (`Zipf`), and the
tail of every distribution is renewed each era (a quarter of a year), so the number of
distinct titles and URLs keeps growing over the years as it does on a real desktop.
"""

from __future__ import annotations

import random
import string
from bisect import bisect
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Final, NamedTuple, TypeVar

T = TypeVar("T")

# -- words --------------------------------------------------------------------------------

WORDS: Final = ["report", "budget", "meeting", "notes", "draft", "review", "plan", "roadmap", "release", "invoice", "contract", "design", "sprint", "backlog", "proposal", "summary", "analysis", "results", "benchmark", "performance", "cache", "server", "client", "query", "index", "storage", "database", "timeline", "dashboard", "export", "import", "config", "deploy", "build", "test", "debug", "profile", "memory", "latency", "throughput", "parser", "lexer", "compiler", "kernel", "network", "firewall", "backup", "migration", "schema", "feature", "bugfix", "refactor", "cleanup", "holiday", "recipe", "weather", "travel", "hotel", "flight", "train", "concert", "movie", "series", "episode", "podcast", "album", "playlist", "garden", "bicycle", "marathon", "birthday", "wedding", "apartment", "insurance", "tax", "bank", "loan", "mortgage", "salary", "pension", "doctor", "dentist", "school", "homework", "library"]
EXTRA_WORDS: Final = ("café", "Zürich", "naïve", "résumé", "日本語", "Ελληνικά", "Kraków",
                      "smörgåsbord", "Ångström", "piñata", "jalapeño", "São Paulo")
FIRST_NAMES: Final = ("Alice", "Bob", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro",
                      "Ines", "Jonas", "Kemal", "Lena", "Marta", "Nils", "Olga", "Priya",
                      "Quentin", "Rosa", "Sven", "Tomás", "Uma", "Viktor", "Wen", "Yusuf")
_SYLLABLES: Final = ("ka", "lo", "mi", "ne", "ru", "ta", "vo", "zen", "bri", "dax", "fel",
                     "gor", "hul", "jin", "kor", "lum", "mox", "nex", "pra", "qui", "sol",
                     "tri", "vex", "wyn", "xo", "yar", "zu", "ar", "el", "is", "on", "ux")


def keyed(seed: int, *parts: int) -> random.Random:
    """A generator seeded by ``seed`` and small non-negative integers (a mixed-radix key,
    so different keys never collide; cheaper to seed than a string)."""
    key = seed
    for part in parts:
        key = key * 1_000_003 + part
    return random.Random(key)


def pick(rng: random.Random, options: Sequence[T]) -> T:
    """``rng.choice`` without its rejection sampling (faster; fine for these sizes)."""
    return options[int(rng.random() * len(options))]


def pseudo_word(rng: random.Random) -> str:
    """A pronounceable made-up word of 2–4 syllables."""
    r = rng.random
    n = len(_SYLLABLES)
    if r() < 0.5:
        return _SYLLABLES[int(r() * n)] + _SYLLABLES[int(r() * n)]
    return _SYLLABLES[int(r() * n)] + _SYLLABLES[int(r() * n)] + _SYLLABLES[int(r() * n)]


def word(rng: random.Random) -> str:
    """A word: mostly real English, sometimes made up, rarely non-ASCII."""
    roll = rng.random()
    if roll < 0.55:
        return pick(rng, WORDS)
    if roll < 0.97:
        return pseudo_word(rng)
    return pick(rng, EXTRA_WORDS)


def words(rng: random.Random, low: int, high: int) -> str:
    return " ".join([word(rng) for _ in range(low + int(rng.random() * (high - low + 1)))])


def slug(rng: random.Random, low: int = 1, high: int = 4) -> str:
    return "-".join([pseudo_word(rng) if rng.random() < 0.5 else pick(rng, WORDS)
                     for _ in range(low + int(rng.random() * (high - low + 1)))])


# -- distributions ------------------------------------------------------------------------


class Zipf:
    """Ranks ``0 .. n-1`` with probability proportional to ``1 / (rank + 1) ** s``."""

    def __init__(self, n: int, s: float) -> None:
        self.cum = list(accumulate(1.0 / (r + 1) ** s for r in range(n)))
        self.total = self.cum[-1]

    def draw(self, rng: random.Random) -> int:
        return min(bisect(self.cum, rng.random() * self.total), len(self.cum) - 1)


# -- apps ---------------------------------------------------------------------------------


class App(NamedTuple):
    name: str  # the `app` field aw-watcher-window reports
    kind: str  # which title model makes its titles
    label: str = ""  # the name shown in titles, when different from `name`


#: The popular head of the app distribution, most used first (a Linux desktop).
HEAD_APPS: Final = (
    App("Google-chrome", "chrome"),
    App("Code", "editor"),
    App("Alacritty", "terminal"),
    App("Slack", "chat", "Slack"),
    App("firefox", "firefox"),
    App("Thunderbird", "email"),
    App("Spotify", "music"),
    App("org.gnome.Nautilus", "files"),
    App("libreoffice-writer", "document", "LibreOffice Writer"),
    App("Evince", "pdf"),
    App("discord", "chat", "Discord"),
    App("zoom", "meeting"),
    App("jetbrains-pycharm", "ide", "PyCharm"),
    App("obsidian", "notes", "Obsidian"),
    App("TelegramDesktop", "chat", "Telegram"),
    App("vlc", "video"),
    App("libreoffice-calc", "document", "LibreOffice Calc"),
    App("Gimp-2.10", "image", "GNU Image Manipulation Program"),
    App("steam", "game"),
    App("KeePassXC", "generic", "KeePassXC"),
    App("gnome-terminal-server", "terminal"),
    App("Signal", "chat", "Signal"),
    App("inkscape", "image", "Inkscape"),
    App("org.gnome.Calculator", "generic", "Calculator"),
    App("Minecraft", "game"),
    App("kdenlive", "video", "Kdenlive"),
    App("Blender", "image", "Blender"),
    App("Audacity", "generic", "Audacity"),
    App("Element", "chat", "Element"),
    App("qBittorrent", "generic", "qBittorrent"),
    App("Gnome-system-monitor", "generic", "System Monitor"),
    App("DBeaver", "ide", "DBeaver"),
    App("Postman", "generic", "Postman"),
    App("Mattermost", "chat", "Mattermost"),
    App("zotero", "document", "Zotero"),
    App("aw-qt", "generic", "ActivityWatch"),
    App("RimWorldLinux", "game"),
    App("mpv", "video"),
    App("Chromium-browser", "chrome"),
    App("Eog", "image", "Image Viewer"),
)
TAIL_APPS: Final = 2_000
_TAIL_STYLES: Final = ("{w}", "{w}-{v}", "org.gnome.{W}", "org.kde.{w}", "{W}{V}", "{w}.exe")


def tail_app(seed: int, index: int) -> App:
    """A rarely used app: a made-up name, deterministic per (seed, index)."""
    rng = keyed(seed, 1, index)
    first, second = pseudo_word(rng), pseudo_word(rng)
    style = rng.choice(_TAIL_STYLES)
    name = style.format(w=first, v=second, W=first.capitalize(), V=second.capitalize())
    return App(name, "generic", first.capitalize())


# -- web pages ----------------------------------------------------------------------------


class Page(NamedTuple):
    url: str
    title: str
    audible: bool


#: The head of the domain distribution, most visited first; the rest are made up.
HEAD_DOMAINS: Final = (
    "github.com", "www.google.com", "mail.google.com", "www.youtube.com", "stackoverflow.com",
    "docs.google.com", "en.wikipedia.org", "www.reddit.com", "news.ycombinator.com",
    "calendar.google.com", "docs.python.org", "x.com", "www.linkedin.com", "docs.rs",
    "pypi.org", "localhost:5600", "app.slack.com", "gitlab.com", "www.amazon.de",
    "open.spotify.com", "www.netflix.com", "translate.google.com", "drive.google.com",
    "pola.rs", "activitywatch.net", "forum.activitywatch.net", "crates.io", "medium.com",
    "www.bbc.com", "www.theguardian.com", "meet.google.com", "www.twitch.tv", "www.figma.com",
    "www.notion.so", "jira.example.com", "confluence.example.com", "web.whatsapp.com",
    "www.facebook.com", "www.instagram.com", "maps.google.com",
)
TAIL_DOMAINS: Final = 6_000
_TLDS: Final = ("com", "org", "net", "io", "de", "dev", "co.uk", "fr", "se", "app")
_AUDIBLE: Final = frozenset({"www.youtube.com", "open.spotify.com", "www.netflix.com",
                             "www.twitch.tv", "meet.google.com"})


def domain_name(seed: int, rank: int) -> str:
    if rank < len(HEAD_DOMAINS):
        return HEAD_DOMAINS[rank]
    rng = keyed(seed, 2, rank)
    host = slug(rng, 1, 2)
    sub = rng.choice(("", "", "", "www.", "blog.", "docs.", "shop.", "news."))
    return f"{sub}{host}.{rng.choice(_TLDS)}"


def _video_id(rng: random.Random) -> str:
    return "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(11))


def _github(rng: random.Random) -> tuple[str, str]:
    org, repo = pseudo_word(rng), slug(rng, 1, 2)
    roll = rng.random()
    if roll < 0.3:
        return f"/{org}/{repo}", f"{org}/{repo}: {words(rng, 3, 8)}"
    if roll < 0.6:
        n = rng.randint(1, 9000)
        return (f"/{org}/{repo}/issues/{n}",
                f"{words(rng, 3, 9).capitalize()} · Issue #{n} · {org}/{repo}")
    if roll < 0.85:
        n = rng.randint(1, 9000)
        return (f"/{org}/{repo}/pull/{n}",
                f"{words(rng, 3, 9).capitalize()} by {rng.choice(FIRST_NAMES).lower()} "
                f"· Pull Request #{n} · {org}/{repo}")
    path = f"src/{pseudo_word(rng)}/{pseudo_word(rng)}.rs"
    return f"/{org}/{repo}/blob/main/{path}", f"{repo}/{path} at main · {org}/{repo}"


def _page_of(domain: str, rng: random.Random) -> tuple[str, str]:
    """(path with query string, page title) of one page on ``domain``."""
    if domain == "github.com":
        return _github(rng)
    if domain == "www.google.com":
        terms = words(rng, 1, 5)
        return (f"/search?q={terms.replace(' ', '+')}&sourceid=chrome&ie=UTF-8",
                f"{terms} - Google Search")
    if domain == "www.youtube.com":
        if rng.random() < 0.1:
            return "/", "YouTube"
        stamp = f"&t={rng.randint(1, 3000)}s" if rng.random() < 0.2 else ""
        return f"/watch?v={_video_id(rng)}{stamp}", f"{words(rng, 2, 10).title()} - YouTube"
    if domain == "stackoverflow.com":
        title = words(rng, 4, 10)
        return (f"/questions/{rng.randint(1000, 79_000_000)}/{title.replace(' ', '-')}",
                f"{title.capitalize()} - Stack Overflow")
    if domain == "en.wikipedia.org":
        title = words(rng, 1, 3).title()
        return f"/wiki/{title.replace(' ', '_')}", f"{title} - Wikipedia"
    if domain == "mail.google.com":
        n = rng.randint(0, 400)
        return f"/mail/u/0/#inbox/{_video_id(rng)}", f"Inbox ({n}) - me@example.org - Gmail"
    if domain == "docs.google.com":
        return (f"/document/d/{_video_id(rng)}{_video_id(rng)}/edit",
                f"{words(rng, 1, 4).capitalize()} - Google Docs")
    if domain == "www.reddit.com":
        sub = pseudo_word(rng)
        return (f"/r/{sub}/comments/{_video_id(rng)[:6].lower()}/{slug(rng, 2, 6)}/",
                f"{words(rng, 3, 10).capitalize()} : r/{sub}")
    if domain == "localhost:5600":
        view = rng.choice(("activity", "timeline", "buckets", "query", "settings"))
        return f"/#/{view}", "ActivityWatch"
    path = "/" if rng.random() < 0.08 else "/" + "/".join(
        slug(rng, 1, 3) for _ in range(rng.randint(1, 3)))
    if rng.random() < 0.25:
        path += f"?{pseudo_word(rng)}={rng.randint(1, 999)}"
        if rng.random() < 0.4:
            path += "&utm_source=newsletter&utm_medium=email"
    label = domain.removeprefix("www.").split(".")[0].capitalize()
    return path, f"{words(rng, 2, 8).capitalize()} | {label}"


def make_page(seed: int, domain_rank: int, page_rank: int, era: int) -> Page:
    domain = domain_name(seed, domain_rank)
    rng = keyed(seed, 3, domain_rank, page_rank, era + 1)
    path, title = _page_of(domain, rng)
    scheme = "http" if domain.startswith("localhost") else "https"
    return Page(f"{scheme}://{domain}{path}", title, domain in _AUDIBLE)


# -- editor files -------------------------------------------------------------------------


class SourceFile(NamedTuple):
    project: str  # absolute project directory
    path: str  # absolute file path
    language: str


_LANGUAGES: Final = (("py", "python"), ("rs", "rust"), ("ts", "typescript"),
                     ("md", "markdown"), ("toml", "toml"), ("json", "json"),
                     ("js", "javascript"), ("go", "go"), ("c", "c"), ("yaml", "yaml"),
                     ("sh", "shellscript"), ("html", "html"), ("css", "css"))
HEAD_PROJECTS: Final = ("fastaw", "activitywatch", "aw-server-rust", "dotfiles", "thesis",
                        "homepage", "aw-webui", "infra")
HOME: Final = "/home/user"


def project_name(seed: int, rank: int) -> str:
    if rank < len(HEAD_PROJECTS):
        return HEAD_PROJECTS[rank]
    return slug(keyed(seed, 4, rank), 1, 2)


def make_file(seed: int, project_rank: int, file_rank: int) -> SourceFile:
    project = f"{HOME}/src/{project_name(seed, project_rank)}"
    rng = keyed(seed, 5, project_rank, file_rank)
    ext, language = _LANGUAGES[min(int(rng.expovariate(0.45)), len(_LANGUAGES) - 1)]
    if file_rank == 0:
        return SourceFile(project, f"{project}/README.md", "markdown")
    parts = [rng.choice(("src", "tests", "docs", "lib", "scripts"))]
    parts += [pseudo_word(rng) for _ in range(rng.randint(0, 2))]
    return SourceFile(project, f"{project}/{'/'.join(parts)}/{pseudo_word(rng)}.{ext}", language)


# -- window titles of the other app kinds -------------------------------------------------

TitleMaker = Callable[[App, random.Random], str]


def _terminal(app: App, rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.45:
        return f"user@laptop: ~/src/{slug(rng, 1, 2)}"
    if roll < 0.7:
        return f"vim {pseudo_word(rng)}.{rng.choice(('py', 'rs', 'md', 'toml'))}"
    if roll < 0.85:
        return f"ssh {pseudo_word(rng)}.example.com"
    return rng.choice(("htop", "python3", "git log", "cargo build", "make test", "top", "man"))


def _chat(app: App, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return f"{app.label} | #{slug(rng, 1, 2)} | {pseudo_word(rng).capitalize()}"
    return f"{app.label} | {rng.choice(FIRST_NAMES)} {pseudo_word(rng).capitalize()}"


def _email(app: App, rng: random.Random) -> str:
    if rng.random() < 0.3:
        return "Inbox - me@example.org - Mozilla Thunderbird"
    prefix = rng.choice(("", "", "Re: ", "Fwd: ", "AW: "))
    return f"{prefix}{words(rng, 2, 7).capitalize()} - Mozilla Thunderbird"


def _music(app: App, rng: random.Random) -> str:
    if rng.random() < 0.15:
        return "Spotify Premium"
    return f"{pseudo_word(rng).capitalize()} {pseudo_word(rng).capitalize()} - {words(rng, 1, 4).title()}"


def _document(app: App, rng: random.Random) -> str:
    ext = "ods" if "Calc" in app.label else "odt"
    return f"{words(rng, 1, 4).replace(' ', '_')}.{ext} - {app.label}"


def _pdf(app: App, rng: random.Random) -> str:
    title = words(rng, 2, 8).title()
    return f"{title} — {slug(rng, 1, 3)}.pdf"


def _files(app: App, rng: random.Random) -> str:
    return rng.choice(("Home", "Downloads", "Documents", "Pictures")) if rng.random() < 0.4 \
        else pseudo_word(rng)


def _meeting(app: App, rng: random.Random) -> str:
    return "Zoom Meeting" if rng.random() < 0.6 else f"{words(rng, 1, 3).title()} - Zoom"


def _ide(app: App, rng: random.Random) -> str:
    return f"{slug(rng, 1, 2)} – {pseudo_word(rng)}.py"


def _notes(app: App, rng: random.Random) -> str:
    return f"{words(rng, 1, 4).capitalize()} - vault - {app.label} v1.5.3"


def _video(app: App, rng: random.Random) -> str:
    return f"{words(rng, 1, 5).title().replace(' ', '.')}.mkv - VLC media player"


def _image(app: App, rng: random.Random) -> str:
    return f"[{pseudo_word(rng)}] (imported)-{rng.randint(1, 40)}.0 (RGB color 8-bit gamma integer, GIMP built-in sRGB, 1 layer) {rng.randint(200, 4000)}x{rng.randint(200, 3000)} – {app.label}"


def _game(app: App, rng: random.Random) -> str:
    return rng.choice((app.name, f"{app.name} 1.20.{rng.randint(1, 6)}", "Steam", "Friends List"))


def _generic(app: App, rng: random.Random) -> str:
    label = app.label or app.name
    if rng.random() < 0.3:
        return label
    return f"{words(rng, 1, 5).capitalize()} - {label}"


TITLE_MAKERS: Final[dict[str, TitleMaker]] = {
    "terminal": _terminal, "chat": _chat, "email": _email, "music": _music,
    "document": _document, "pdf": _pdf, "files": _files, "meeting": _meeting, "ide": _ide,
    "notes": _notes, "video": _video, "image": _image, "game": _game, "generic": _generic,
}


def make_title(seed: int, app_rank: int, app: App, title_rank: int, era: int) -> str:
    """Window title number ``title_rank`` of an app that is not a browser or the editor."""
    rng = keyed(seed, 6, app_rank, title_rank, era + 1)
    return TITLE_MAKERS[app.kind](app, rng)

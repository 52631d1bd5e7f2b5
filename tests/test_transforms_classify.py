"""categorize, tag, rule parsing, the regex dialect and split_url_events (spec §5, §6.1,
§6.4, §6.5), on the reference and the vectorized code, then properties."""

from __future__ import annotations

import re
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tests.reference_transforms as ref
from fastaw import transforms as tf
from fastaw.transforms.classify import parse_rule
from fastaw.transforms.regex import compile_regex, is_fancy, translate
from fastaw.transforms.urls import _url_head, _url_heads, url_fields
from tests.reference_transforms import Ev
from tests.strategies import canon, event_lists, from_frame, to_frame
from tests.test_transforms_periods import IDS, ev


def regex(pattern: str, **extra: Any) -> dict[str, Any]:
    return {"type": "regex", "regex": pattern, **extra}


def ref_rules(rules: list[list[Any]]) -> list[tuple[Any, Any, Any]]:
    out = []
    for name, rule in rules:
        parsed = parse_rule(rule)
        matcher = None if parsed.regex is None else parsed.regex.search_one
        select = None if parsed.select_keys is None else list(parsed.select_keys)
        out.append((name, matcher, select))
    return out


def categorize(impl: Any, events: list[Ev], rules: list[list[Any]]) -> list[Ev]:
    if impl is ref:
        return ref.categorize(events, ref_rules(rules))
    return from_frame(tf.categorize(to_frame(events), rules))


def tag(impl: Any, events: list[Ev], rules: list[list[Any]]) -> list[Ev]:
    if impl is ref:
        return ref.tag(events, ref_rules(rules))
    return from_frame(tf.tag(to_frame(events), rules))


IMPLS = [ref, None]


@pytest.mark.parametrize("impl", IMPLS, ids=IDS)
class TestCategorizeTag:
    def test_rust_categorize(self, impl: Any) -> None:
        rules = [
            [["Test"], regex("test")],
            [["Test", "Subtest"], regex("test")],
            [["Other"], regex("nonmatching")],
        ]
        out = categorize(impl, [ev(0, 1, {"test": "just a test"})], rules)
        assert out[0].data["$category"] == ["Test", "Subtest"]

    def test_rust_uncategorized(self, impl: Any) -> None:
        rules = [[["Non-matching", "test"], regex("not going to match")]]
        out = categorize(impl, [ev(0, 1, {"test": "just a test"})], rules)
        assert out[0].data["$category"] == ["Uncategorized"]

    def test_rust_tag(self, impl: Any) -> None:
        rules = [["test", regex("test")], ["test-2", regex("test")], ["nomatch", regex("nomatch")]]
        out = tag(impl, [ev(0, 1, {"test": "just a test"})], rules)
        assert out[0].data["$tags"] == ["test", "test-2"]

    def test_query_tag_select_keys(self, impl: Any) -> None:
        data = {"app": "terminal", "title": "just a test", "pid": 123}
        rules = [
            ["title-match", regex("test$", select_keys=["title"])],
            ["app-match", regex("test$", select_keys=["app"])],
            ["pid-match", regex("123", select_keys=["pid"])],
            ["missing-match", regex("test", select_keys=["missing"])],
        ]
        assert tag(impl, [ev(0, 1, data)], rules)[0].data["$tags"] == ["title-match"]

    def test_query_categorize_and_tag_sorted(self, impl: Any) -> None:
        rules = [[["Test", "Subtest"], regex("^value$")]]
        out = categorize(impl, [ev(0, 1, {"key": "value"})], rules)
        assert out[0].data == {"key": "value", "$category": ["Test", "Subtest"]}
        rules = [["testtag", regex("value$")], ["another testtag", regex("value$")]]
        assert tag(impl, [ev(0, 1, {"key": "value"})], rules)[0].data["$tags"] == [
            "another testtag",
            "testtag",
        ]

    def test_python_categorize(self, impl: Any) -> None:
        rules = [
            [["Test"], regex("^just")],
            [["Test", "Subtest"], regex("subtest$")],
            [["Test", "Ignorecase"], regex("ignorecase", ignore_case=True)],
        ]
        evs = [
            ev(0, 1, {"label": "just a test"}),
            ev(1, 1, {"label": "a subtest"}),
            ev(2, 1, {"label": "IGNORECASE"}),
            ev(3, 1, {}),
        ]
        assert [e.data["$category"] for e in categorize(impl, evs, rules)] == [
            ["Test"],
            ["Test", "Subtest"],
            ["Test", "Ignorecase"],
            ["Uncategorized"],
        ]

    def test_query2_categorize_backslash_w(self, impl: Any) -> None:
        rules = [[["test"], regex("test")], [["test", "subtest"], regex(r"test\w")]]
        evs = [ev(0, 1, {"label": "test"}), ev(1, 1, {"label": "testwithmoredetail"})]
        cats = [e.data["$category"] for e in categorize(impl, evs, rules)]
        assert cats == [["test"], ["test", "subtest"]]

    def test_tie_later_rule_wins_and_empty_name_never(self, impl: Any) -> None:
        rules = [[["A"], regex("x")], [["B"], regex("x")], [[], regex("x")], [["M"], {"type": "none"}]]
        assert categorize(impl, [ev(0, 1, {"t": "x"})], rules)[0].data["$category"] == ["B"]

    def test_tag_dedup_and_empty_pattern(self, impl: Any) -> None:
        rules = [["T", regex("a")], ["T", regex("b")], ["all", regex("")]]
        out = tag(impl, [ev(0, 1, {"t": "ab"}), ev(1, 1, {"n": 1})], rules)
        assert [e.data["$tags"] for e in out] == [["T", "all"], []]

    def test_only_top_level_strings(self, impl: Any) -> None:
        rules = [[["X"], regex("x")]]
        evs = [ev(0, 1, {"l": ["x"]}), ev(1, 1, {"o": {"a": "x"}}), ev(2, 1, {"$category": "x"})]
        cats = [e.data["$category"] for e in categorize(impl, evs, rules)]
        assert cats == [["Uncategorized"], ["Uncategorized"], ["X"]]

    def test_rust_lookahead(self, impl: Any) -> None:
        rules = [["la", regex("testing (?!lookahead)")]]
        out = tag(impl, [ev(0, 1, {"t": "testing lookahead"}), ev(1, 1, {"t": "testing x"})], rules)
        assert [e.data["$tags"] for e in out] == [[], ["la"]]


@pytest.mark.parametrize(
    ("rules", "error"),
    [
        (["test", False], tf.InvalidParameters),
        ([["testtag", {}]], tf.InvalidParameters),
        ([["testtag", {"type": False}]], tf.InvalidParameters),
        ([["testtag", {"type": "rgex"}]], tf.InvalidParameters),
        ([["testtag", {"type": "none"}]], None),
        ([["testtag", {"type": "regex", "regex": True}]], tf.InvalidParameters),
        ([["testtag", {"type": "regex"}]], tf.InvalidParameters),
        ([["testtag", regex("test", ignore_case=False)]], None),
        ([["testtag", regex("test", select_keys=["key"])]], None),
        ([["testtag", regex("test", ignore_case="")]], tf.InvalidParameters),
        ([["testtag", regex("test", select_keys="key")]], tf.InvalidParameters),
        ([["testtag", regex("test", select_keys=["key", False])]], tf.InvalidParameters),
        ([["testtag", regex("test", select_keys=[])]], tf.RegexCompileError),
        ([["testtag", regex("!#¤%&/(=")]], tf.RegexCompileError),
    ],
)
def test_rule_parsing(rules: list[Any], error: type[Exception] | None) -> None:
    """aw-server-rust aw-query/tests/query.rs::test_rule_parsing (errors even for [] events)."""
    if error is None:
        tf.tag(tf.empty(), rules)
    else:
        with pytest.raises(error):
            tf.tag(tf.empty(), rules)


def test_rule_error_messages() -> None:
    with pytest.raises(tf.InvalidParameters, match=r"^Unknown rule type 'rgex'$"):
        tf.categorize(tf.empty(), [[["x"], {"type": "rgex"}]])
    with pytest.raises(tf.RegexCompileError) as info:
        tf.categorize(tf.empty(), [[["x"], regex("(", ignore_case=True)]])
    assert info.value.message.startswith("Failed to compile regex string '(': ")
    assert info.value.kind == "RegexCompileError"


# --- regex dialect ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("value$", "value\n", False),  # Rust $ = end of text only
        (r"value\z", "value", True),
        ("(?i)^(google[-_ ]?chrome|chrome|chromium)", "Google-Chrome", True),
        (r"(?i)^arc(\.exe)?$", "ARC.exe", True),
        (r"\p{Greek}", "α", True),
        ("[[:digit:]]x", "1x", True),
        ("a(?i)b", "aB", True),
        ("a(?i)b", "AB", False),
        ("", "anything", True),
        (r"(?<y>a)\k<y>", "aa", True),
        (r"(a)\1(?=b)", "aab", True),
        (r"a\Z", "a\n", True),
        ("a(?i)b|c$(?=)", "C", True),
        ("a++a", "aaa", False),
        (r"\h+(?=z)", "beefz", True),
        (r"x(?<=\bx)", "x", True),
    ],
)
def test_rust_regex_semantics(pattern: str, text: str, expected: bool) -> None:
    assert compile_regex(pattern).search_one(text) is expected


@pytest.mark.parametrize("pattern", ["(", "a{", r"\y", "[z-a]", r"(?<=a+)b(?=c)x(", r"\p{L}(?=a)"])
def test_regex_rejects(pattern: str) -> None:
    with pytest.raises(tf.RegexCompileError):
        compile_regex(pattern)


def test_translate() -> None:
    assert translate(r"a(?i)b|c$") == r"a(?i:b)|(?i:c\Z)"
    assert translate(r"(?<n>x)\k<n>\z") == r"(?P<n>x)(?P=n)\Z"
    assert translate(r"[[:alpha:]\h]\x{263A}") == r"[A-Za-z0-9A-Fa-f]\U0000263a"
    assert is_fancy("(?=x)") and is_fancy(r"\1") and not is_fancy(r"\(?=x\)")


@settings(max_examples=150, deadline=None)
@given(
    st.text("ab\n", max_size=5),
    st.sampled_from(["a", "b$", "^a", "a|b", "(a)", "a*b", "[ab]+$", "(?i)A", "(?m)^b$"]),
)
def test_native_and_fallback_agree(text: str, pattern: str) -> None:
    """Polars (Rust regex crate) and the translated Python pattern agree."""
    native = compile_regex(pattern).search_one(text)
    assert (re.search(translate(pattern), text) is not None) is native


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text("abAé. |", max_size=6), max_size=6),
    st.sampled_from(["a", "ab|b", "A|é", "a a|b", "é b|aa|A", "a.|b", "a|"]),
)
def test_word_alternations_match_like_the_regex(texts: list[str], pattern: str) -> None:
    """Plain word alternations are searched with Aho-Corasick: the same answers."""
    regex = compile_regex(pattern)
    assert (regex.literals is not None) is ("." not in pattern and not pattern.endswith("|"))
    values = pl.Series([*texts, None], dtype=pl.String)
    assert regex.search(values).to_list() == values.str.contains(pattern).fill_null(False).to_list()


# --- properties ------------------------------------------------------------------------------

RULE_POOL = [
    [["A"], regex("a")],
    [["A", "B"], regex("^b", ignore_case=True)],
    [["A", "C"], regex("1", select_keys=["k", "title"])],
    [["D"], {"type": "none"}],
    [["A", "B"], regex("")],
    [["E"], regex("(?=A)")],
    [[], regex("a")],
    # with three or more, the rules' regexes are first run as one alternation
    [["F"], regex("(?i)a b$")],
    [["G"], regex(r"(?x) A \  b  # a comment")],
]


@settings(max_examples=200, deadline=None)
@given(event_lists(), st.lists(st.sampled_from(RULE_POOL), max_size=6))
def test_categorize_matches_reference(events: list[Ev], rules: list[list[Any]]) -> None:
    assert canon(categorize(None, events, rules)) == canon(categorize(ref, events, rules))


@settings(max_examples=200, deadline=None)
@given(event_lists(), st.lists(st.sampled_from(RULE_POOL), max_size=6))
def test_tag_matches_reference(events: list[Ev], rules: list[list[Any]]) -> None:
    tag_rules = [["/".join(name) or "-", rule] for name, rule in rules]
    assert canon(tag(None, events, tag_rules)) == canon(tag(ref, events, tag_rules))


# --- split_url_events --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "fields"),
    [
        ("http://www.google.com/path?query=1", ("http", "google.com", "/path", "query=1")),
        ("file:///home/user/document.pdf", ("file", "file", "/home/user/document.pdf", "")),
        ("about:blank", ("about", "about", "blank", "")),
        (
            "https://WWW.Example.COM:8080/a%20b/c;p?q=1#f",
            ("https", "example.com", "/a%20b/c;p", "q=1"),
        ),
        (
            "https://www.asd.asd.com/test/test2/meh;meh2?asd=2&asdf=3#id",
            ("https", "asd.asd.com", "/test/test2/meh;meh2", "asd=2&asdf=3"),
        ),
        ("http://asd.com/test/?a=1", ("http", "asd.com", "/test/", "a=1")),
        ("localhost:8080", ("localhost", "localhost", "8080", "")),
        ("http://www.www.x.org", ("http", "x.org", "/", "")),
        ("http://x.org/a/../b/./c d", ("http", "x.org", "/b/c%20d", "")),
        ("https://bücher.de/ä?x=ö", ("https", "xn--bcher-kva.de", "/%C3%A4", "x=%C3%B6")),
        ("http://0x7f.1/", ("http", "127.0.0.1", "/", "")),
        ("http://[0:0::1]:81/", ("http", "[::1]", "/", "")),
        ("chrome://settings/", ("chrome", "settings", "/", "")),
    ],
)
def test_url_fields(url: str, fields: tuple[str, str, str, str]) -> None:
    got = url_fields(url)
    assert got is not None
    assert (got["$protocol"], got["$domain"], got["$path"], got["$params"]) == fields


@pytest.mark.parametrize("url", ["", "www.google.com", "not a url", "http://a:99999/", "https://"])
def test_unparsable_urls(url: str) -> None:
    assert url_fields(url) is None


def test_split_url_events() -> None:
    evs = [
        ev(0, 1, {"url": "http://www.google.com/path?query=1"}, 1),
        ev(1, 1, {"url": "www.google.com"}, 2),
        ev(2, 1, {"url": 5}, 3),
        ev(3, 1, {"title": "x"}, 4),
    ]
    out = from_frame(tf.split_url_events(to_frame(evs)))
    assert out[0].data == {
        "url": "http://www.google.com/path?query=1",
        "$protocol": "http",
        "$domain": "google.com",
        "$path": "/path",
        "$params": "query=1",
    }
    assert out[1:] == evs[1:] and [e.id for e in out] == [1, 2, 3, 4]


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda s, h, p, q, f: f"{s}://{h}{p}{q}{f}",
            st.sampled_from(["http", "https", "HTTP"]),
            st.sampled_from(["www.a.org", "B.com", "www.www.c.net", "d.io", "e", "1.2.3.4"]),
            st.sampled_from(["", "/", "/x", "/x/y", "/a.b", "/a/"]),
            st.sampled_from(["", "?", "?q=1", "?a=b&c=d", "?a?b/c"]),
            st.sampled_from(["", "#", "#f", "#f?x/y"]),
        ),
        max_size=6,
    )
)
def test_split_url_matches_reference(urls: list[str]) -> None:
    evs = [ev(i, 1, {"url": u}, i) for i, u in enumerate(urls)]
    got = from_frame(tf.split_url_events(to_frame(evs)))
    assert canon(got) == canon(ref.split_url_events(evs))


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.builds(
            lambda s, h, p, q, f: f"{s}://{h}{p}{q}{f}",
            st.sampled_from(["http", "https", "HTTP", "ftp", "x"]),
            st.sampled_from(["www.a.org", "B.com", "www.www.c.net", "d.io", "e", "1.2.3.4",
                             "a-b.c9", "www.", "a..b", "a.org:80", "u@a.org", ""]),
            st.sampled_from(["", "/", "/x", "/x/y", "/a.b", "/x/./y", "/%2e%2E/z", "/..",
                             "/é", "/a b", "/a/", "/a'b", "/%41"]),
            st.sampled_from(["", "?", "?q=1", "?a=b&c=d", "?a?b/c", "?é", "?'", "?a/./b"]),
            st.sampled_from(["", "#", "#f", "#f?x/y", "#é"]),
        ),
        max_size=8,
    )
)
def test_url_heads_cut_like_the_parser(urls: list[str]) -> None:
    """The URLs cut by delimiters get the members the WHATWG parse gives."""
    heads = _url_heads(pl.Series(urls, dtype=pl.String))
    assert dict(zip(heads["url"], heads["head"], strict=True)) == {u: _url_head(u) for u in urls}


def test_simplify_window_titles() -> None:
    evs = [
        ev(0, 1, {"title": "(99) Facebook", "app": "f"}),
        ev(1, 1, {"title": "Cemu - FPS: 133.7 - BotW", "app": "c"}),
        ev(2, 1, {"title": "● report.md - Visual Studio Code", "app": "c"}),
        ev(3, 1, {"title": "*test.md - gedit", "app": "g"}),
        ev(4, 1, {"title": "(2) YouTube"}),
    ]
    out = from_frame(tf.simplify_window_titles(to_frame(evs), "title"))
    assert [e.data["title"] for e in out] == [
        "Facebook",
        "Cemu - FPS: ... - BotW",
        "report.md - Visual Studio Code",
        "test.md - gedit",
        "YouTube",
    ]

"""fastaw.api.http: the fast paths of path and query-string parsing equal the general ones."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes

from hypothesis import example, given
from hypothesis import strategies as st

from fastaw.api.http import parse_query, split_path

_pieces = st.sampled_from(["/", "//", "a", "b", "api", "0", "%", "%2F", "%41", "+", "=", "&",
                           "é", "日本", "\udcff", "\x00", " ", "?", "%zz", ";"])
_raw = st.lists(_pieces, max_size=12).map("".join).map(
    lambda text: text.encode("utf-8", "surrogateescape"))


@given(_raw)
@example(b"/api/0/buckets/b1/heartbeat")
@example(b"//api//0/")
@example(b"/\xff\xfe/x")
def test_split_path_fast_path_equals_unquoting_every_segment(raw: bytes) -> None:
    assert split_path(raw) == [unquote_to_bytes(part).decode("utf-8", "replace")
                               for part in raw.split(b"/") if part]


@given(_raw)
@example(b"pulsetime=60")
@example(b"a=1&b&=x&a==b&&c=")
@example(b"x=\xff")
def test_parse_query_fast_path_equals_parse_qsl(raw: bytes) -> None:
    assert parse_query(raw) == dict(parse_qsl(raw.decode("utf-8", "replace"),
                                              keep_blank_values=True))

"""split_url_events and the WHATWG URL parsing it needs (as the Rust ``url`` crate does it).

Only what the four output fields need is computed: scheme, host (serialized, no port or
userinfo), path (serialized, percent-encoded) and query. The parse follows the WHATWG basic
URL parser without a base URL; a URL it rejects leaves its event unchanged. Known
approximations: international domain names go through Python's IDNA 2003 codec (rust-url
uses UTS #46), and the rarely-hit "forbidden domain code point" list is the WHATWG one.
Results are cached per distinct URL.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Final, NamedTuple

import polars as pl

from fastaw.transforms.dictionary import code_of, codes_of, data_dtype
from fastaw.transforms.distinct import DistinctData
from fastaw.transforms.frame import Events, nulls
from fastaw.transforms.jsondata import encode, string_values
from fastaw.transforms.overlay import OVERLAY, has_overlay, plain

_SPECIAL: Final = frozenset({"http", "https", "ws", "wss", "ftp", "file"})
_DEFAULT_PORT: Final = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}
_SCHEME: Final = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*:")
_FRAGMENT_SET: Final = frozenset(' "<>`')
_PATH_SET: Final = _FRAGMENT_SET | frozenset("#?{}")
_QUERY_SET: Final = frozenset(' "#<>')
_SPECIAL_QUERY_SET: Final = _QUERY_SET | frozenset("'")
_FORBIDDEN_HOST: Final = frozenset("\x00\t\n\r #/:<>?@[\\]^|")
_FORBIDDEN_DOMAIN: Final = _FORBIDDEN_HOST | frozenset("%\x7f") | frozenset(map(chr, range(32)))
_SINGLE_DOTS: Final = frozenset({".", "%2e", "%2E"})
_DOUBLE_DOTS: Final = frozenset(
    {"..", ".%2e", ".%2E", "%2e.", "%2E.", "%2e%2e", "%2E%2E", "%2e%2E", "%2E%2e"}
)


#: The keys split_url_events sets.
URL_KEYS: Final = ("$protocol", "$domain", "$path", "$params")


class ParsedUrl(NamedTuple):
    scheme: str
    host: str | None
    path: str
    query: str | None


def _encode(text: str, escape: frozenset[str]) -> str:
    """UTF-8 percent-encode: C0 controls, DEL (in rust-url's CONTROLS), non-ASCII, ``escape``."""
    if text.isascii() and text.isprintable() and not any(c in escape for c in text):
        return text
    out: list[str] = []
    for c in text:
        if c in escape or ord(c) < 0x20 or ord(c) >= 0x7F:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogatepass"))
        else:
            out.append(c)
    return "".join(out)


def _percent_decode(text: str) -> bytes:
    raw = text.encode("utf-8", "surrogatepass")
    return re.sub(rb"%([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), raw)


def _ipv4_number(part: str) -> int | None:
    if not part:
        return None
    base = 10
    if part[:2] in ("0x", "0X"):
        part, base = part[2:], 16
    elif len(part) > 1 and part[0] == "0":
        part, base = part[1:], 8
    if part == "":
        return 0
    try:
        return int(part, base)
    except ValueError:
        return None


def _ends_in_number(host: str) -> bool:
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    last = parts[-1]
    if last and all(c in "0123456789" for c in last):
        return True
    return _ipv4_number(last) is not None and last[:2] in ("0x", "0X")


def _ipv4(host: str) -> str | None:
    """WHATWG IPv4 parser → dotted serialization; None means failure."""
    parts = host.split(".")
    if parts[-1] == "" and len(parts) > 1:
        parts.pop()
    if len(parts) > 4:
        return None
    numbers = [_ipv4_number(p) for p in parts]
    if any(n is None for n in numbers):
        return None
    nums = [n for n in numbers if n is not None]
    if any(n > 255 for n in nums[:-1]) or nums[-1] >= 256 ** (5 - len(nums)):
        return None
    value = nums[-1]
    for i, n in enumerate(nums[:-1]):
        value += n * 256 ** (3 - i)
    return ".".join(str((value >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _host(text: str, special: bool) -> str | None:
    """Serialized host, or None when the host is invalid (the whole parse fails)."""
    if text.startswith("["):
        if not text.endswith("]"):
            return None
        try:
            return f"[{ipaddress.IPv6Address(text[1:-1]).compressed}]"
        except ValueError:
            return None
    if not special:
        if any(c in _FORBIDDEN_HOST for c in text):
            return None
        return _encode(text, frozenset())
    try:
        domain = _percent_decode(text).decode("utf-8")
    except UnicodeDecodeError:
        return None
    ascii_domain = domain.lower()
    if not ascii_domain.isascii():
        try:
            ascii_domain = domain.encode("idna").decode("ascii").lower()
        except UnicodeError:
            return None
    if not ascii_domain or any(c in _FORBIDDEN_DOMAIN for c in ascii_domain):
        return None
    if _ends_in_number(ascii_domain):
        return _ipv4(ascii_domain)
    return ascii_domain


def _path(text: str, special: bool) -> str:
    """Serialized hierarchical path (leading ``/``), dot segments resolved."""
    segments = re.split(r"[/\\]" if special else "/", text)
    out: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg in _DOUBLE_DOTS:
            if out:
                out.pop()
            if last:
                out.append("")
        elif seg in _SINGLE_DOTS:
            if last:
                out.append("")
        else:
            out.append(_encode(seg, _PATH_SET))
    return "/" + "/".join(out)


@lru_cache(maxsize=65_536)
def parse_url(url: str) -> ParsedUrl | None:
    """WHATWG-parse an absolute URL; None when rust-url's ``Url::parse`` would fail."""
    text = url.strip("".join(map(chr, range(33)))).translate({9: None, 10: None, 13: None})
    match = _SCHEME.match(text)
    if match is None:
        return None
    scheme = match.group(0)[:-1].lower()
    rest = text[match.end() :]
    special = scheme in _SPECIAL
    rest, _, _fragment = rest.partition("#")
    rest, qmark, query_text = rest.partition("?")
    query = None
    if qmark:
        query = _encode(query_text, _SPECIAL_QUERY_SET if special else _QUERY_SET)
    if scheme == "file":
        if re.match(r"[/\\]{2}", rest):
            host_text, _, path = _split_authority(rest[2:], True)
            if re.fullmatch(r"[A-Za-z][:|]", host_text):
                return ParsedUrl(scheme, None, _path(rest[2:], True), query)
            host = _host(host_text, True) if host_text else ""
            if host is None:
                return None
            return ParsedUrl(
                scheme, None if host in ("", "localhost") else host, _path(path, True), query
            )
        return ParsedUrl(scheme, None, _path(rest.lstrip("/\\"), True), query)
    if special:
        authority, sep, path = _split_authority(rest.lstrip("/\\"), True)
    elif rest.startswith("//"):
        authority, sep, path = _split_authority(rest[2:], False)
    else:
        if rest.startswith("/"):
            return ParsedUrl(scheme, None, _path(rest[1:], False), query)
        return ParsedUrl(scheme, None, _encode(rest, frozenset()), query)
    host = _authority_host(authority, scheme, special)
    if host is None:
        return None
    if not sep and not special:
        return ParsedUrl(scheme, host, "", query)
    return ParsedUrl(scheme, host, _path(path, special), query)


def _split_authority(text: str, special: bool) -> tuple[str, str, str]:
    """(authority, separator, path after the separator)."""
    stop = re.search(r"[/\\]" if special else "/", text)
    if stop is None:
        return text, "", ""
    return text[: stop.start()], text[stop.start()], text[stop.start() + 1 :]


def _authority_host(authority: str, scheme: str, special: bool) -> str | None:
    host_port = authority.rpartition("@")[2]
    host_text, port_text = host_port, ""
    bracket = host_port.rfind("]")
    colon = host_port.rfind(":")
    if colon > bracket:
        host_text, port_text = host_port[:colon], host_port[colon + 1 :]
    if port_text and (not port_text.isdigit() or not port_text.isascii() or int(port_text) > 65535):
        return None
    if special and not host_text:
        return None
    if not host_text:
        return ""
    return _host(host_text, special)


def url_fields(url: str) -> dict[str, str] | None:
    """The four keys split_url_events writes for ``url`` (None: unparsable, no change)."""
    parsed = parse_url(url)
    if parsed is None:
        return None
    domain = parsed.host
    if domain:
        while domain.startswith("www."):
            domain = domain[4:]
    return {
        "$protocol": parsed.scheme,
        "$domain": parsed.scheme if parsed.host is None else domain or "",
        "$path": parsed.path,
        "$params": parsed.query or "",
    }


def split_url_events(events: Events, overlay: bool = False) -> Events:
    """Add ``$protocol``, ``$domain``, ``$path``, ``$params`` from ``data.url``.

    ::

        {url: "https://www.x.org/a?b=1"}  →  {url…, $protocol: https, $domain: x.org,
                                               $path: /a, $params: b=1}
        {url: "not a url"} / {url: 5} / {}  →  unchanged

    Order, ids and times are unchanged; each distinct data text is looked at once (in a
    query, its overlay is memoized). With ``overlay``, the four keys are set in the
    frame's overlay (`fastaw.transforms.overlay`) and ``data`` is left as it is.
    """
    if events.height == 0:
        return events if overlay else plain(events)
    codes = _split_codes(events)
    if has_overlay(events):
        old = events[OVERLAY]
        # an overlay an earlier split of the same data made is this split's again; any
        # other (a category, …) is spliced in first
        if not (old.is_null() | (old == codes)).all():
            events = plain(events)
            codes = _split_codes(events)
    # an event without URL to split keeps its data as it is
    unsplit = codes == code_of("{}")
    split = events.with_columns(codes.zip_with(
        ~unsplit, nulls(events.height, data_dtype())).alias(OVERLAY))
    return split if overlay else plain(split)


def _split_codes(events: Events) -> pl.Series:
    """Per row: the code of the overlay the split of its data sets (of ``{}``: none)."""
    return DistinctData(events["data"]).memoized_rows("split_url", _url_overlays,
                                                      pl.UInt32())


def _url_overlays(dd: DistinctData) -> pl.Series:
    """Per distinct text: the code of its overlay ``{"$domain":…,"$params":…,"$path":…,
    "$protocol":…}``, or of ``{}`` when it has no URL that parses."""
    urls = string_values(dd.values(["url"])["url"])
    heads = _url_heads(urls.drop_nulls().unique())
    found = pl.DataFrame({"url": urls}).join(heads, on="url", how="left",
                                             maintain_order="left")["head"]
    texts = pl.select(pl.concat_str(pl.lit(found).str.head(-1), pl.lit("}"))
                      .fill_null("{}")).to_series()
    return codes_of(texts)


# URLs whose WHATWG parse is their own text: lowercase http(s), a lowercase ASCII domain
# whose last label starts with a letter (never an IPv4 form), no port or userinfo, path and
# query of characters that are neither percent-encoded nor JSON-escaped. Dot segments
# (``.``, ``..``, ``%2e``) are excluded separately.
_FAST_URL: Final = (
    r"^(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z][a-z0-9-]*|[a-z][a-z0-9-]*)"
    r"(/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*)?(?:\?([A-Za-z0-9._~!$&()*+,;=:@%/?-]*))?(?:#[!-~]*)?$"
)
_DOT_SEGMENT: Final = r"(?i)/(?:\.|%2e){1,2}(?:/|$)"


def _url_heads(urls: pl.Series) -> pl.DataFrame:
    """``url`` → ``head``: the four "$…" members as the start of a canonical object
    (``{"$domain":…,"$protocol":…,``), null when the URL does not parse.

    A URL matching `_FAST_URL` (checked by one regex pass without captures) is cut into
    its parts at delimiters its parts cannot hold: ``#`` starts the fragment (no part
    before holds one), the first ``?`` the query, the first ``/`` after the host the path.
    """
    fits = urls.str.contains(_FAST_URL)
    url = pl.col("url")
    https = url.str.starts_with("https:")
    rest = pl.when(https).then(url.str.slice(len("https://"))).otherwise(
        url.str.slice(len("http://")))
    frame = (
        pl.DataFrame({"url": urls.filter(fits)}).lazy()
        .with_columns(https=https, rest=rest.str.splitn("#", 2).struct.field("field_0")
                      .str.splitn("?", 2))
        .with_columns(query=pl.col("rest").struct.field("field_1"),
                      where=pl.col("rest").struct.field("field_0").str.splitn("/", 2))
        .select("url", "https", "query", host=pl.col("where").struct.field("field_0"),
                path=pl.col("where").struct.field("field_1"))
        .with_columns(fast=~pl.concat_str(pl.lit("/"), pl.col("path").fill_null(""))
                      .str.contains(_DOT_SEGMENT))
        .collect()
    )
    fast = frame.lazy().filter("fast").select(
        "url",
        head=pl.concat_str(
            pl.lit('{"$domain":"'),
            pl.col("host").str.replace(r"^(?:www\.)+", ""),
            pl.lit('","$params":"'),
            pl.col("query").fill_null(""),
            pl.lit('","$path":"/'),
            pl.col("path").fill_null(""),
            pl.lit('","$protocol":"'),
            pl.when(pl.col("https")).then(pl.lit("https")).otherwise(pl.lit("http")),
            pl.lit('",'),
        ),
    ).collect()
    rest_urls = pl.concat([urls.filter(~fits), frame.filter(~pl.col("fast"))["url"]])
    slow = pl.DataFrame({"url": rest_urls, "head": pl.Series(
        [_url_head(u) for u in rest_urls.to_list()], dtype=pl.String)})
    return pl.concat([fast, slow])


@lru_cache(maxsize=65536)
def _url_fields_cached(url: str) -> dict[str, str] | None:
    return url_fields(url)


@lru_cache(maxsize=65536)
def _url_head(url: str) -> str | None:
    """``{"$domain":…,"$params":…,"$path":…,"$protocol":…,`` for ``url`` (None: unparsable)."""
    fields = _url_fields_cached(url)
    if fields is None:
        return None
    return encode(fields)[:-1] + ","

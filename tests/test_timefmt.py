"""fastaw.timefmt: ISO 8601 / RFC 3339 ↔ integer nanoseconds (spec §1.7, §1.8)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fastaw.timefmt import (
    MAX_NS,
    MIN_NS,
    NS_PER_SECOND,
    check_ns,
    days_from_civil,
    format_ns,
    ns_to_seconds,
    parse_datetime,
    seconds_to_ns,
    seconds_to_ns_many,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
OUTPUT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{3}|\.\d{6}|\.\d{9})?Z")
ns_values = st.integers(min_value=MIN_NS, max_value=MAX_NS)


def ns_of(moment: datetime) -> int:
    """Exact ns since the epoch of an aware datetime (integer arithmetic only)."""
    return (moment - EPOCH) // timedelta(microseconds=1) * 1000


# -- format → parse ----------------------------------------------------------------------

@given(ns_values)
@example(MIN_NS)
@example(MAX_NS)
@example(0)
@example(-1)
@example(1)
@example(NS_PER_SECOND - 1)
@example(-NS_PER_SECOND)
@example(-NS_PER_SECOND - 1)
@example(951_782_400 * NS_PER_SECOND)  # 2000-02-29
def test_format_parse_roundtrip(ns: int) -> None:
    text = format_ns(ns)
    assert OUTPUT.fullmatch(text), text
    assert parse_datetime(text) == ns


@given(ns_values)
def test_format_uses_the_fewest_of_0_3_6_9_digits(ns: int) -> None:
    text = format_ns(ns)
    frac = ns % NS_PER_SECOND
    digits = 0 if "." not in text else len(text.split(".")[1]) - 1
    expected = 0 if frac == 0 else 3 if frac % 10**6 == 0 else 6 if frac % 1000 == 0 else 9
    assert digits == expected


@given(st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2262, 1, 1)))
def test_format_matches_datetime(moment: datetime) -> None:
    aware = moment.replace(tzinfo=UTC)
    text = format_ns(ns_of(aware))
    assert text[:19] == aware.strftime("%Y-%m-%dT%H:%M:%S")
    micros = aware.microsecond
    assert text[19:] == ("Z" if micros == 0 else f".{micros // 1000:03d}Z"
                         if micros % 1000 == 0 else f".{micros:06d}Z")


@pytest.mark.parametrize(("ns", "text"), [
    (0, "1970-01-01T00:00:00Z"),
    (1_500_000_000, "1970-01-01T00:00:01.500Z"),
    (1_514_768_461 * NS_PER_SECOND, "2018-01-01T01:01:01Z"),
    (1_514_768_461 * NS_PER_SECOND + 123_456_789, "2018-01-01T01:01:01.123456789Z"),
    (1_514_768_461 * NS_PER_SECOND + 123_456_000, "2018-01-01T01:01:01.123456Z"),
    (-1, "1969-12-31T23:59:59.999999999Z"),
    (MIN_NS, "1677-09-21T00:12:43.145224192Z"),
    (MAX_NS, "2262-04-11T23:47:16.854775807Z"),
])
def test_pinned_formats(ns: int, text: str) -> None:
    assert format_ns(ns) == text
    assert parse_datetime(text) == ns


# -- parse: what is accepted --------------------------------------------------------------

@given(st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2262, 1, 1)),
       st.integers(min_value=-23 * 60 + 1, max_value=23 * 60 - 1))
def test_parse_matches_datetime_isoformat(moment: datetime, offset_minutes: int) -> None:
    aware = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    assert parse_datetime(aware.isoformat()) == ns_of(aware)
    # a naive timestamp is UTC
    assert parse_datetime(moment.isoformat()) == ns_of(moment.replace(tzinfo=UTC))


MIDNIGHT_2020 = 1_577_836_800 * NS_PER_SECOND
HOUR = 3600 * NS_PER_SECOND


@pytest.mark.parametrize(("text", "ns"), [
    ("2020-01-01T00:00:00Z", MIDNIGHT_2020),
    ("2020-01-01t00:00:00z", MIDNIGHT_2020),
    ("2020-01-01 00:00:00Z", MIDNIGHT_2020),
    ("2020-01-01T00:00:00UTC", MIDNIGHT_2020),
    ("2020-01-01T00:00:00 UTC", MIDNIGHT_2020),
    ("2020-01-01T00:00:00 Z", MIDNIGHT_2020),
    ("2020-01-01T 00:00:00Z", MIDNIGHT_2020),
    ("  2020-01-01T00:00:00Z  ", MIDNIGHT_2020),
    ("2020-01-01T00:00:00", MIDNIGHT_2020),
    ("2020-01-01T00:00", MIDNIGHT_2020),
    ("2020-01-01", MIDNIGHT_2020),
    ("2020-01", MIDNIGHT_2020),
    ("2020", MIDNIGHT_2020),
    ("20200101T000000Z", MIDNIGHT_2020),
    ("20200101T0000", MIDNIGHT_2020),
    ("20200101", MIDNIGHT_2020),
    ("2020-01-01T01:00:00+01:00", MIDNIGHT_2020),
    ("2020-01-01T01:00:00+0100", MIDNIGHT_2020),
    ("2020-01-01T01:00:00+01", MIDNIGHT_2020),
    ("2019-12-31T18:30:00-05:30", MIDNIGHT_2020),
    ("2020-01-01T23:59:00+23:59", MIDNIGHT_2020),
    ("2020-01-01T00:00:00.5Z", MIDNIGHT_2020 + 500_000_000),
    ("2020-01-01T00:00:00,5Z", MIDNIGHT_2020 + 500_000_000),
    ("2020-01-01T00:00:00.000000001Z", MIDNIGHT_2020 + 1),
    ("2020-01-01T00:00:00.1234567891234Z", MIDNIGHT_2020 + 123_456_789),
    ("2020-01-01T00:00:00.999999999999+00:00", MIDNIGHT_2020 + 999_999_999),
    ("2020-02-29T00:00:00Z", MIDNIGHT_2020 + 59 * 24 * HOUR),
    ("2000-02-29T00:00:00Z", 951_782_400 * NS_PER_SECOND),
    ("1970-01-01T00:00:00Z", 0),
    ("1969-12-31T23:59:59.999999999Z", -1),
])
def test_accepted_forms(text: str, ns: int) -> None:
    assert parse_datetime(text) == ns


@pytest.mark.parametrize("text", [
    "",
    " ",
    "abc",
    "2020-1-01",
    "2020-01-1",
    "12020-01-01",
    "2020-13-01",
    "2020-00-01",
    "2020-01-00",
    "2020-02-30",
    "2019-02-29",
    "1900-02-29",
    "2020-04-31",
    "2020-01-01T24:00:00Z",
    "2020-01-01T23:60:00Z",
    "2020-01-01T23:59:60Z",
    "2020-01-01T00:00:00+24:00",
    "2020-01-01T00:00:00+01:60",
    "2020-01-01T00:00:00X",
    "2020-01-01T00:00:00ZZ",
    "2020-01-01T00:00:00.Z",
    "2020-01-01T00Z",
    "2020-01-01T00:00:00+1",
    "2020-01-01T00:00:00 +01:00 x",
    "1677-09-21T00:12:43.145224191Z",
    "1677-09-21T00:00:00Z",
    "2262-04-11T23:47:16.854775808Z",
    "2262-04-12T00:00:00Z",
    "9999-12-31T23:59:59Z",
    "0000-01-01T00:00:00Z",
    "2020-01-01T00:00:00\x00",
    "２０２０-01-01",
])
def test_rejected_forms(text: str) -> None:
    with pytest.raises(ValueError):
        parse_datetime(text)


@pytest.mark.parametrize("value", [None, 1577836800, 1.5, b"2020-01-01", ["2020-01-01"]])
def test_non_strings_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="string"):
        parse_datetime(value)  # type: ignore[arg-type]


def test_range_error_names_the_range() -> None:
    with pytest.raises(ValueError, match="1677-09-21"):
        parse_datetime("3000-01-01T00:00:00Z")


@given(st.text(max_size=40))
@example("2020-01-01T00:00:00+99:99")
@example("9999-99-99T99:99:99Z")
@example("2020-01-01T00:00:00." + "9" * 50 + "Z")
def test_arbitrary_text_parses_or_raises_value_error(text: str) -> None:
    try:
        ns = parse_datetime(text)
    except ValueError:
        return
    assert MIN_NS <= ns <= MAX_NS


@given(st.from_regex(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,12})?(Z|[+-]\d{2}:\d{2})",
                     fullmatch=True))
def test_rfc3339_shaped_text_agrees_with_datetime(text: str) -> None:
    """The fast and the general parser agree with Python's own reading of RFC 3339."""
    normalized = re.sub(r"(\.\d{6})\d+", r"\1", text.replace("t", "T"))
    try:
        expected: int | None = ns_of(datetime.fromisoformat(normalized.replace("Z", "+00:00")))
    except (ValueError, OverflowError):
        expected = None
    if expected is not None and not MIN_NS <= expected <= MAX_NS:
        expected = None
    try:
        got: int | None = parse_datetime(text)
    except ValueError:
        got = None
    if got is not None and expected is not None:
        assert got // 1000 == expected // 1000  # datetime keeps µs, fastaw ns
    else:
        assert got == expected, text


# -- helpers ------------------------------------------------------------------------------

@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_days_from_civil_matches_ordinal(day: date) -> None:
    assert days_from_civil(day.year, day.month, day.day) == (
        day.toordinal() - date(1970, 1, 1).toordinal())


@pytest.mark.parametrize(("seconds", "ns"), [
    (0, 0), (1, NS_PER_SECOND), (1.0, NS_PER_SECOND), (1.5, 1_500_000_000),
    (-1.5, -1_500_000_000), (0.1, 100_000_000), (0.123456789, 123_456_789),
    (1e-9, 1), (1.9e-9, 2), (-1.9e-9, -2), (1.4e-9, 1), (86400.25, 86_400_250_000_000),
    # aw-server-rust truncates seconds * 1e9 (…122.99997 ns → …122): a round trip loses 1 ns
    (258.691000123, 258_691_000_123), (1e6 + 0.000000001, 1_000_000_000_000_001),
    (2e6 + 0.5e-9, 2_000_000_000_000_000),  # beyond 2**50 ns: the decimal text, half-even
])
def test_seconds_to_ns_is_the_nearest_ns(seconds: float, ns: int) -> None:
    assert seconds_to_ns(seconds) == ns


@given(st.integers(min_value=-(2**62), max_value=2**62))
@example(2**53 - 1)
def test_seconds_to_ns_inverts_the_output_form(ns: int) -> None:
    """A duration written as ns / 1e9 (`encode_duration`) reads back as the same ns while
    the float's spacing is below a nanosecond: below 2**22 s (≈ 48 days), where it is
    2**-30 s. (Not up to 2**53 ns: at 104 days the spacing is ≈ 1.9 ns, and 2**53 - 1 ns
    reads back a nanosecond short.)"""
    if abs(ns) < 2**22 * 10**9:
        assert seconds_to_ns(ns / 1e9) == ns


@given(st.lists(st.floats(allow_nan=False) | st.integers(-(2**40), 2**40), max_size=30))
@example([1e300])
@example([-(2.0**50) / 1e9, 2.0**50 / 1e9])
def test_seconds_to_ns_many_is_the_scalar_one(values: list[float]) -> None:
    many = seconds_to_ns_many(values)
    if many is None:  # the caller then takes the scalar path
        assert any(not abs(v * 1e9) < 2**50 for v in values)
        return
    assert many == [seconds_to_ns(v) for v in values]


@pytest.mark.parametrize("seconds", [float("inf"), float("-inf"), float("nan")])
def test_seconds_to_ns_rejects_non_finite(seconds: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        seconds_to_ns(seconds)


@given(st.floats(min_value=1.8e299, allow_infinity=False) | st.floats(
    max_value=-1.8e299, allow_infinity=False))
@example(1e300)
@example(-1.7976931348623157e308)
def test_seconds_to_ns_rejects_what_overflows_in_ns(seconds: float) -> None:
    with pytest.raises(ValueError, match="range"):
        seconds_to_ns(seconds)


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_ns_to_seconds_is_ns_over_1e9(ns: int) -> None:
    assert ns_to_seconds(ns) == ns / 1e9


def test_check_ns() -> None:
    assert check_ns(MIN_NS, "x") == MIN_NS
    assert check_ns(MAX_NS, "x") == MAX_NS
    with pytest.raises(ValueError, match="duration"):
        check_ns(MAX_NS + 1, "duration")
    with pytest.raises(ValueError):
        check_ns(MIN_NS - 1, "x")


# -- the fast path and the column-wise parser ------------------------------------------------

_shaped = st.from_regex(
    r"\d{4}-[01]\d-[0-3]\d[Tt ][0-2]\d:[0-5]\d:[0-6]\d([.,]\d{0,12})?(Z|z|[+-][0-2]\d:[0-6]\d)",
    fullmatch=True)


@given(_shaped)
@example("2020-01-01T00:00:00.5+01:00")
@example("2020-02-30T00:00:00Z")
@example("2262-04-11T23:47:16.854775808Z")
@example("2020-01-01T00:00:00.Z")
def test_the_fast_path_agrees_with_the_full_parser(text: str) -> None:
    from fastaw.timefmt import _fast_ns, _parse_full

    fast = _fast_ns(text)
    try:
        full: int | None = _parse_full(text)
    except ValueError:
        full = None
    if fast is not None:
        assert fast == full
    elif full is not None:  # the fast path may only leave out more than 9 digits
        assert re.search(r"[.,]\d{10,}", text), text


def _variants(ns: int) -> list[str]:
    text = format_ns(ns)
    python = text.replace("Z", "+00:00")
    return [text, python, python.replace("T", " "), text.replace("Z", ".000Z") if "." not in
            text else text[:-1] + "000Z", text.lower(), text.replace("Z", "-00:00")]


@given(st.lists(st.integers(min_value=MIN_NS, max_value=MAX_NS), max_size=20),
       st.data())
def test_parse_stamps_is_parse_then_format(values: list[int], data: st.DataObject) -> None:
    from fastaw.timefmt import parse_stamps

    texts = [data.draw(st.sampled_from(_variants(ns))) for ns in values]
    if data.draw(st.booleans()):
        texts += data.draw(st.lists(_shaped | st.text(max_size=30), max_size=3))
    try:
        expected: list[int] | None = [parse_datetime(text) for text in texts]
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(ValueError):
            parse_stamps(texts)
        return
    starts, stamps = parse_stamps(texts)
    assert starts == expected
    assert stamps == [format_ns(ns).encode() for ns in expected]

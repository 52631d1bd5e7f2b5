"""Time conversions: the one place where ActivityWatch time strings meet integer nanoseconds.

Invariants:
* inside fastaw every instant is an ``int`` of nanoseconds since the Unix epoch (UTC) and
  every duration an ``int`` of nanoseconds; floats appear only at the JSON edge;
* instants must fit a signed 64-bit integer (1677-09-21 … 2262-04-11), like aw-server-rust;
* output is RFC 3339 in UTC with ``Z`` and 0, 3, 6 or 9 fraction digits (aw-server-rust style).
"""

from __future__ import annotations

import decimal
import math
import operator
import re
from functools import lru_cache
from itertools import repeat
from typing import Final

NS_PER_SECOND: Final = 1_000_000_000
NS_PER_DAY: Final = 86_400 * NS_PER_SECOND
MIN_NS: Final = -(2**63)
MAX_NS: Final = 2**63 - 1

# All patterns are re.ASCII: `\d` must not match other scripts' digits (int() would take them).
# Extended ISO 8601 / RFC 3339, lenient: separator T, t or space; seconds and fraction optional;
# fraction with . or ,; offset Z, z, UTC, ±HH:MM, ±HHMM, ±HH or none (naive = UTC).
_EXTENDED: Final = re.compile(
    r"\s*(\d{4})-(\d{2})(?:-(\d{2})"
    r"(?:[Tt ]\s*(\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.ASCII,
)
# Basic format: 20200101T000000[.fff][Z|±HHMM], or a bare date 20200101.
_BASIC: Final = re.compile(
    r"\s*(\d{4})(\d{2})(\d{2})(?:[Tt](\d{2})(\d{2})(?:(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|UTC|[+-]\d{2}(?::?\d{2})?)?\s*",
    re.ASCII,
)
_YEAR_ONLY: Final = re.compile(r"\s*(\d{4})\s*", re.ASCII)

_DAYS_BEFORE_MONTH: Final = (0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date."""
    y = year - 1
    days = y * 365 + y // 4 - y // 100 + y // 400 + _DAYS_BEFORE_MONTH[month] + day
    if month > 2 and _is_leap(year):
        days += 1
    return days - 719_163  # days_from_civil(1970, 1, 1) with the formula above


def _offset_seconds(text: str | None) -> int:
    if text is None or text in ("Z", "z", "UTC"):
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    hours = int(digits[:2])
    minutes = int(digits[2:4]) if len(digits) > 2 else 0
    if hours > 23 or minutes > 59:
        raise ValueError(f"offset {text!r} is out of range")
    return sign * (hours * 3600 + minutes * 60)


def _build(groups: tuple[str | None, ...], text: str) -> int:
    year_s, month_s, day_s, hour_s, minute_s, second_s, frac_s, offset_s = groups
    year = int(year_s or 0)
    month = int(month_s or 1)
    day = int(day_s or 1)
    hour = int(hour_s or 0)
    minute = int(minute_s or 0)
    second = int(second_s or 0)
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is out of range in {text!r}")
    if not 1 <= day <= _days_in_month(year, month):
        raise ValueError(f"day {day} is out of range in {text!r}")
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"time of day is out of range in {text!r}")
    frac_ns = int((frac_s or "")[:9].ljust(9, "0"))
    seconds = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
    ns = (seconds - _offset_seconds(offset_s)) * NS_PER_SECOND + frac_ns
    if not MIN_NS <= ns <= MAX_NS:
        raise ValueError(
            f"{text!r} is outside the supported range 1677-09-21 … 2262-04-11"
        )
    return ns


def parse_datetime(text: str) -> int:
    """Parse an ISO 8601 / RFC 3339 timestamp into nanoseconds since the epoch (UTC).

    Accepts what either ActivityWatch server accepts: ``T``/``t``/space separator, up to nine
    fraction digits (more are truncated), offsets ``Z``, ``UTC``, ``±HH:MM``, ``±HHMM``,
    ``±HH``, naive values (taken as UTC), a date alone, ``YYYY-MM``, ``YYYY`` and the basic
    format ``20200101T000000Z``. Raises ``ValueError`` with a message naming the problem.

    >>> parse_datetime("1970-01-01T00:00:01.5Z")
    1500000000
    """
    if not isinstance(text, str):
        raise ValueError(f"expected a timestamp string, got {type(text).__name__}")
    fast = _fast_ns(text)
    if fast is not None:
        return fast
    return _parse_full(text)


def _parse_full(text: str) -> int:
    """Every accepted form, through the regular expressions (and every error message)."""
    match = _EXTENDED.fullmatch(text) or _BASIC.fullmatch(text)
    if match is not None:
        return _build(match.groups(), text)
    match = _YEAR_ONLY.fullmatch(text)
    if match is not None:
        return _build((match.group(1), None, None, None, None, None, None, None), text)
    raise ValueError(f"{text!r} is not an ISO 8601 timestamp")


# -- the fast path: the shape every client sends ------------------------------------------
# ``YYYY-MM-DD(T|t| )HH:MM:SS[(.|,)digits](Z|z|±HH:MM)``: a look-up per date (cached), two
# per clock time (``HH:MM:``, ``SS``), one per offset, and the fraction. Anything else — or
# anything out of range — returns None and `_parse_full` decides (and words the error).

_SCALES: Final = {n: 10 ** (9 - n) for n in range(1, 10)}  # ns per unit of n fraction digits
_DATE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})", re.ASCII)
_date_seconds: dict[str, int] = {}
#: The clock's text in two parts: ``HH:MM:`` (each minute of a day) and ``SS``. A table of
#: every second of a day, with a dict to parse them back, would be ≈ 12 MB in every
#: process that reads or writes a timestamp (the HTTP workers: every heartbeat); these are
#: ≈ 150 KB, for ≈ 60 ns more per timestamp.
_TWO_DIGITS: Final = tuple(f"{n:02d}" for n in range(60))
_MINUTES: Final = tuple(f"{h}:{m}:" for h in _TWO_DIGITS[:24] for m in _TWO_DIGITS)
_MINUTE_SECONDS: Final = {text: index * 60 for index, text in enumerate(_MINUTES)}
_SECONDS: Final = {text: index for index, text in enumerate(_TWO_DIGITS)}
_OFFSETS: Final = {f"{sign}{h:02d}:{m:02d}": (1 if sign == "+" else -1) * (h * 3600 + m * 60)
                   for sign in "+-" for h in range(24) for m in range(60)}


def _day_seconds(date: str) -> int | None:
    """Seconds since the epoch at midnight of ``YYYY-MM-DD``, or None if it is no date."""
    base = _date_seconds.get(date)
    if base is None:
        match = _DATE.fullmatch(date)
        if match is None:
            return None
        year, month, day = int(match[1]), int(match[2]), int(match[3])
        if not (1 <= month <= 12 and 1 <= day <= _days_in_month(year, month)):
            return None
        base = days_from_civil(year, month, day) * 86_400
        if len(_date_seconds) > 100_000:
            _date_seconds.clear()
        _date_seconds[date] = base
    return base


def _fast_ns(text: str) -> int | None:
    """ns of a timestamp in the common shape (see above), or None."""
    stop = len(text) - 1
    last = text[stop:]
    if last == "Z" or last == "z":
        offset = 0
    else:
        stop -= 5
        found = _OFFSETS.get(text[stop:])
        if found is None:
            return None
        offset = found
    minute = _MINUTE_SECONDS.get(text[11:17])
    second = _SECONDS.get(text[17:19])
    base = _date_seconds.get(text[:10])
    if base is None:
        base = _day_seconds(text[:10])
    if minute is None or second is None or base is None or stop < 19 or \
            text[10] not in "Tt ":
        return None
    ns = (base + minute + second - offset) * NS_PER_SECOND
    if stop > 19:
        digits = text[20:stop]
        scale = _SCALES.get(len(digits))
        if scale is None or text[19] not in ".," or not (digits.isdigit() and digits.isascii()):
            return None
        ns += int(digits) * scale
    if MIN_NS <= ns <= MAX_NS:
        return ns
    return None


def parse_stamps(texts: list[str]) -> tuple[list[int], list[bytes]]:
    """`parse_datetime` of every text, and `format_ns` of each result (as UTF-8 bytes).

    A text already in the output form (``…T…Z`` with 0, 3, 6 or 9 digits, the fewest
    that are exact) is its own formatting, so only other texts are formatted. Raises
    ``ValueError`` like `parse_datetime`, for the first text that is not a timestamp.
    """
    found = list(map(_fast_ns, texts))
    if None in found:
        starts = [parse_datetime(text) if ns is None else ns
                  for text, ns in zip(texts, found, strict=True)]
    else:
        starts = found  # type: ignore[assignment]
        stamps = _output_forms(texts, starts)
        if stamps is not None:
            return starts, stamps
    return starts, [text.encode() if _is_output_form(text) else format_ns(ns).encode()
                    for text, ns in zip(texts, starts, strict=True)]


def _output_forms(texts: list[str], starts: list[int]) -> list[bytes] | None:
    """The stamps of texts that all passed `_fast_ns`, one pass per character position
    instead of one call per text (the fast path vouches for the rest); None unless all are
    ``…T…Z`` with 0, 3, 6 or 9 digits."""
    count = len(texts)
    if not {20, 24, 27, 30}.issuperset(map(len, texts)):
        return None
    if "".join(map(operator.getitem, texts, repeat(10))).count("T") != count or \
            "".join(map(operator.getitem, texts, repeat(-1))).count("Z") != count or \
            "," in "".join(map(operator.getitem, texts, repeat(19))):
        return None
    stamps = list(map(str.encode, texts))
    # a fraction must have the fewest digits: ".500" has, ".000" and ".500000" have not
    # (for a text without a fraction this slice is ":SS")
    digits = list(map(operator.getitem, texts, repeat(slice(-4, -1))))
    if "000" in set(digits):
        for index, tail in enumerate(digits):
            if tail == "000":
                stamps[index] = format_ns(starts[index]).encode()
    return stamps


def _is_output_form(text: str) -> bool:
    """Whether a text `parse_datetime` accepted is exactly what `format_ns` writes for it."""
    size = len(text)
    return text[10:11] == "T" and text[-1:] == "Z" and (size == 20 or (
        size in (24, 27, 30) and text[19] == "." and text[-4:-1] != "000"))


@lru_cache(maxsize=4096)
def _date_prefix(days: int) -> str:
    """``YYYY-MM-DDT`` for a day number (Howard Hinnant's civil_from_days)."""
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return f"{year:04d}-{month:02d}-{day:02d}T"


def format_ns(ns: int) -> str:
    """RFC 3339 UTC with ``Z`` and 0/3/6/9 fraction digits, as aw-server-rust writes it.

    >>> format_ns(1_500_000_000)
    '1970-01-01T00:00:01.500Z'
    """
    days, rem = divmod(ns, NS_PER_DAY)
    seconds, frac = divmod(rem, NS_PER_SECOND)
    minute, second = divmod(seconds, 60)
    head = _date_prefix(days) + _MINUTES[minute] + _TWO_DIGITS[second]
    if frac == 0:
        return head + "Z"
    if frac % 1_000_000 == 0:
        return f"{head}.{frac // 1_000_000:03d}Z"
    if frac % 1_000 == 0:
        return f"{head}.{frac // 1_000:06d}Z"
    return f"{head}.{frac:09d}Z"


def seconds_to_ns(seconds: float) -> int:
    """A duration in seconds (JSON number) as integer ns: the nearest ns to its decimal text.

    aw-server-rust truncates ``seconds * 1e9``, which turns 258.691000123 s into
    258691000122 ns, so an event read and written back loses a nanosecond each time;
    rounding the product is exact while it is below 2**50 ns (13 days), and beyond that
    the number's decimal text is used. Raises ``ValueError`` for what has no ns value.
    """
    if isinstance(seconds, int):
        return seconds * NS_PER_SECOND
    product = seconds * 1e9
    if -_EXACT < product < _EXACT:
        return round(product)
    if not math.isfinite(seconds):
        raise ValueError(f"duration {seconds!r} is not a finite number")
    if not math.isfinite(product):  # e.g. 1e300 s: finite seconds, infinite ns
        raise ValueError(f"duration {seconds!r} is out of range")
    return int(decimal.Decimal(repr(seconds)).scaleb(9).to_integral_value(decimal.ROUND_HALF_EVEN))


_EXACT: Final = float(2**50)


def seconds_to_ns_many(seconds: list[float]) -> list[int] | None:
    """`seconds_to_ns` of every value, or None when one needs the scalar function
    (a product of 2**50 ns or more, or not finite): three passes in C, no call per value."""
    products = list(map(operator.mul, seconds, repeat(1e9)))
    if not products:
        return []
    # sum() is NaN or infinite when a product is; max()/min() alone would miss a NaN
    if not (math.isfinite(sum(products)) and min(products) > -_EXACT
            and max(products) < _EXACT):
        return None
    return list(map(round, products))


def ns_to_seconds(ns: int) -> float:
    """Integer ns to float seconds, the way aw-server-rust serializes a duration."""
    return ns / 1e9


def check_ns(ns: int, what: str) -> int:
    """Raise ``ValueError`` unless ``ns`` fits the signed 64-bit range."""
    if not MIN_NS <= ns <= MAX_NS:
        raise ValueError(f"{what} is outside the supported range 1677-09-21 … 2262-04-11")
    return ns

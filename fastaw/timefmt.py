"""Time conversions: the one place where ActivityWatch time strings meet integer nanoseconds.

Invariants:
* inside fastaw every instant is an ``int`` of nanoseconds since the Unix epoch (UTC) and
  every duration an ``int`` of nanoseconds; floats appear only at the JSON edge;
* instants must fit a signed 64-bit integer (1677-09-21 … 2262-04-11), like aw-server-rust;
* output is RFC 3339 in UTC with ``Z`` and 0, 3, 6 or 9 fraction digits (aw-server-rust style).
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
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

# The form every client actually sends (RFC 3339 with an offset), parsed without _build.
_COMMON: Final = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9})\d*)?(Z|z|[+-]\d\d:\d\d)",
    re.ASCII,
)
_day_seconds: dict[str, int] = {}

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
    match = _COMMON.fullmatch(text)
    if match is not None:
        fast = _parse_common(text, match)
        if fast is not None:
            return fast
    match = _EXTENDED.fullmatch(text) or _BASIC.fullmatch(text)
    if match is not None:
        return _build(match.groups(), text)
    match = _YEAR_ONLY.fullmatch(text)
    if match is not None:
        return _build((match.group(1), None, None, None, None, None, None, None), text)
    raise ValueError(f"{text!r} is not an ISO 8601 timestamp")


def _parse_common(text: str, match: re.Match[str]) -> int | None:
    """Fast path for ``YYYY-MM-DDTHH:MM:SS[.f]±HH:MM|Z``; None defers to the full parser."""
    year, month, day, hour, minute, second, frac, offset = match.groups()
    date = text[:10]
    base = _day_seconds.get(date)
    if base is None:
        m, d = int(month), int(day)
        if not (1 <= m <= 12 and 1 <= d <= _days_in_month(int(year), m)):
            return None
        base = days_from_civil(int(year), m, d) * 86_400
        if len(_day_seconds) > 100_000:
            _day_seconds.clear()
        _day_seconds[date] = base
    h, mi, sec = int(hour), int(minute), int(second)
    if h > 23 or mi > 59 or sec > 59:
        return None
    seconds = base + h * 3600 + mi * 60 + sec
    if offset not in ("Z", "z"):
        oh, om = int(offset[1:3]), int(offset[4:6])
        if oh > 23 or om > 59:
            return None
        seconds -= (oh * 3600 + om * 60) if offset[0] == "+" else -(oh * 3600 + om * 60)
    ns = seconds * NS_PER_SECOND
    if frac:
        ns += int(frac) * _FRACTION_SCALE[len(frac)]
    if not MIN_NS <= ns <= MAX_NS:
        return None
    return ns


_FRACTION_SCALE: Final = tuple(10 ** (9 - n) for n in range(10))


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


_TIMES_OF_DAY: Final = tuple(
    f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)
)


def format_ns(ns: int) -> str:
    """RFC 3339 UTC with ``Z`` and 0/3/6/9 fraction digits, as aw-server-rust writes it.

    >>> format_ns(1_500_000_000)
    '1970-01-01T00:00:01.500Z'
    """
    days, rem = divmod(ns, NS_PER_DAY)
    seconds, frac = divmod(rem, NS_PER_SECOND)
    head = _date_prefix(days) + _TIMES_OF_DAY[seconds]
    if frac == 0:
        return head + "Z"
    if frac % 1_000_000 == 0:
        return f"{head}.{frac // 1_000_000:03d}Z"
    if frac % 1_000 == 0:
        return f"{head}.{frac // 1_000:06d}Z"
    return f"{head}.{frac:09d}Z"


def seconds_to_ns(seconds: float) -> int:
    """A duration in seconds (JSON number) to integer ns, truncated toward zero like Rust."""
    if isinstance(seconds, int):
        return seconds * NS_PER_SECOND
    if not math.isfinite(seconds):
        raise ValueError(f"duration {seconds!r} is not a finite number")
    ns = seconds * 1e9
    if not math.isfinite(ns):  # e.g. 1e300 s: finite seconds, infinite ns
        raise ValueError(f"duration {seconds!r} is out of range")
    return int(ns)


def ns_to_seconds(ns: int) -> float:
    """Integer ns to float seconds, the way aw-server-rust serializes a duration."""
    return ns / 1e9


def check_ns(ns: int, what: str) -> int:
    """Raise ``ValueError`` unless ``ns`` fits the signed 64-bit range."""
    if not MIN_NS <= ns <= MAX_NS:
        raise ValueError(f"{what} is outside the supported range 1677-09-21 … 2262-04-11")
    return ns

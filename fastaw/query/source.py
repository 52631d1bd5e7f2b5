"""Where queries get their events from: the injected `EventSource` (sans-IO).

The query package never imports storage. Whoever runs a query (the worker pool, tests)
passes an object with these three methods. `MemorySource` is the in-memory one used by
tests and examples.

Contract of `EventSource.events(bucket_id, start_ns, end_ns)`: the bucket's events whose
stored interval touches ``[start_ns, end_ns]`` (``end >= start_ns and start <= end_ns``,
inclusive at both ends), **unclipped**, in any order, as an events frame
(`fastaw.transforms.frame`); a `KeyError` when the bucket does not exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, Protocol

import msgspec

from fastaw.timefmt import parse_datetime, seconds_to_ns
from fastaw.transforms.frame import Events, from_columns

_CANONICAL: Final = msgspec.json.Encoder(order="sorted")


class EventSource(Protocol):
    """Read-only access to buckets and their events, as a query needs it."""

    def bucket_ids(self) -> list[str]:
        """Every bucket id, in any order."""
        ...

    def bucket_hostname(self, bucket_id: str) -> str | None:
        """The bucket's hostname, or None when there is no such bucket."""
        ...

    def events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        """The unclipped events touching ``[start_ns, end_ns]``; `KeyError` if no bucket."""
        ...


class _Row(msgspec.Struct, frozen=True, gc=False):
    id: int | None
    start: int
    duration: int
    data: str


class MemorySource:
    """An `EventSource` over events held in memory (tests, examples).

    ``buckets`` maps a bucket id to its events, each a mapping in the ActivityWatch wire
    shape: ``timestamp`` (ISO 8601 string, or int ns), ``duration`` (seconds, default 0),
    ``data`` (dict, default ``{}``) and an optional ``id`` (default: 1, 2, … per bucket in
    the given order). ``hostnames`` maps bucket ids to hostnames (default ``"unknown"``).
    """

    def __init__(
        self,
        buckets: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
        hostnames: Mapping[str, str] | None = None,
    ) -> None:
        self._rows: dict[str, list[_Row]] = {}
        self._hostnames: dict[str, str] = {}
        for bucket_id, events in (buckets or {}).items():
            self.add_bucket(bucket_id, (hostnames or {}).get(bucket_id, "unknown"), events)

    def add_bucket(
        self, bucket_id: str, hostname: str, events: Sequence[Mapping[str, Any]] = ()
    ) -> None:
        """Create (or replace) a bucket with the given events."""
        rows: list[_Row] = []
        for n, event in enumerate(events, start=1):
            ts = event["timestamp"]
            start = ts if isinstance(ts, int) else parse_datetime(ts)
            rows.append(
                _Row(
                    id=event.get("id", n),
                    start=start,
                    duration=seconds_to_ns(event.get("duration", 0)),
                    data=_CANONICAL.encode(event.get("data", {})).decode(),
                )
            )
        self._rows[bucket_id] = rows
        self._hostnames[bucket_id] = hostname

    def bucket_ids(self) -> list[str]:
        return list(self._rows)

    def bucket_hostname(self, bucket_id: str) -> str | None:
        return self._hostnames.get(bucket_id)

    def events(self, bucket_id: str, start_ns: int, end_ns: int) -> Events:
        rows = [
            r
            for r in self._rows[bucket_id]
            if r.start + r.duration >= start_ns and r.start <= end_ns
        ]
        return from_columns(
            [r.id for r in rows],
            [r.start for r in rows],
            [r.duration for r in rows],
            [r.data for r in rows],
        )

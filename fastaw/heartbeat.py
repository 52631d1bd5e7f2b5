"""The heartbeat merge rule (aw-server-rust), as a pure function.

::

    last      |=========|                  L.start .. L.end
    pulse               ·····p·····        the window the next heartbeat may start in
    beat                      |===|        H.start <= L.end + p  and  H.start >= L.start
    merged    |===================|        start = L.start, end = max(L.end, H.end)

A heartbeat merges into the last event iff its data equals the last event's data (JSON-typed:
canonical bytes, so ``1 != 1.0``), it does not start before the last event, it starts no later
than ``p`` after the last event's end (inclusive), and the merged duration is not negative.
"""

from __future__ import annotations

from fastaw.models import Event


def merge_heartbeat(last: Event, beat: Event, pulsetime: int) -> Event | None:
    """The merged event, or None when ``beat`` must be inserted as a new event."""
    if beat.data != last.data:
        return None
    last_end = last.start + last.duration
    if not last.start <= beat.start <= last_end + pulsetime:
        return None
    end = max(last_end, beat.start + beat.duration)
    duration = end - last.start
    if duration < 0:
        return None
    return Event(last.id, last.start, duration, last.data)

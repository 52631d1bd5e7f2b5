"""Seeded, realistic desktop history for benchmarks and demos (`fastaw gen`)."""

from fastaw.datagen.desktop import (
    AFK,
    CHROME,
    EDITOR,
    FIREFOX,
    WINDOW,
    BucketDef,
    DayEvents,
    Desktop,
    Spec,
)
from fastaw.datagen.sinks import HttpSink, Report, Sink, StoreSink, generate, iter_days

__all__ = [
    "AFK",
    "CHROME",
    "EDITOR",
    "FIREFOX",
    "WINDOW",
    "BucketDef",
    "DayEvents",
    "Desktop",
    "HttpSink",
    "Report",
    "Sink",
    "Spec",
    "StoreSink",
    "generate",
    "iter_days",
]

"""Vectorized event transforms (DataFrame → DataFrame), named as in aw-transform."""

from fastaw.transforms.classify import categorize, tag
from fastaw.transforms.clip import query_bucket_clip
from fastaw.transforms.errors import InvalidParameters, RegexCompileError, TransformError
from fastaw.transforms.filters import exclude_keyvals, filter_keyvals, filter_keyvals_regex
from fastaw.transforms.flood import flood
from fastaw.transforms.frame import Events, empty, to_json_bytes
from fastaw.transforms.grouping import chunk_events_by_key, merge_events_by_keys
from fastaw.transforms.ordering import (
    concat,
    limit_events,
    sort_by_duration,
    sort_by_timestamp,
    sum_durations,
)
from fastaw.transforms.periods import filter_period_intersect, period_union, union_no_overlap
from fastaw.transforms.titles import simplify_window_titles
from fastaw.transforms.urls import split_url_events

__all__ = [
    "Events",
    "InvalidParameters",
    "RegexCompileError",
    "TransformError",
    "categorize",
    "chunk_events_by_key",
    "concat",
    "empty",
    "exclude_keyvals",
    "filter_keyvals",
    "filter_keyvals_regex",
    "filter_period_intersect",
    "flood",
    "limit_events",
    "merge_events_by_keys",
    "period_union",
    "query_bucket_clip",
    "simplify_window_titles",
    "sort_by_duration",
    "sort_by_timestamp",
    "split_url_events",
    "sum_durations",
    "tag",
    "to_json_bytes",
    "union_no_overlap",
]

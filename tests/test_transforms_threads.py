"""`fastaw.transforms.threads.in_parts`: the results of a serial loop, worked on by a few
threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastaw.transforms import threads


@given(st.lists(st.integers(), max_size=40), st.integers(1, 6))
def test_results_come_back_in_order(items: list[int], parts: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "parts", lambda: parts)
        assert threads.in_parts(lambda x: x * 2 + 1, items) == [x * 2 + 1 for x in items]


def test_runs_are_shared_among_threads_and_the_caller_takes_the_first() -> None:
    seen: dict[int, int] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "parts", lambda: 3)
        threads.in_parts(lambda x: seen.setdefault(x, threading.get_ident()), range(9))
    first, second, third = ({seen[i] for i in range(a, a + 3)} for a in (0, 3, 6))
    assert first == {threading.get_ident()}
    assert len(second) == len(third) == 1 and second != first and third != first


def test_an_error_in_a_part_reaches_the_caller() -> None:
    def fail_on_seven(x: int) -> int:
        if x == 7:
            raise ValueError("seven")
        return x

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(threads, "parts", lambda: 2)
        with pytest.raises(ValueError, match="seven"):
            threads.in_parts(fail_on_seven, range(10))

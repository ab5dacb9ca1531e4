"""``flowgen.core.jsonpath``: slices are read like the service reads them and never written."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.core import jsonpath
from flowgen.core.jsonpath import JSONPathError, PathNotFound, Slice

HELLOS = {"input": {"Hellos": ["a", "b", "c", "d"]}}


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$.input.Hellos[1:]", ("input", "Hellos", Slice(1, None))),
        ("$.a[:2]", ("a", Slice(None, 2))),
        ("$.a[1:3]", ("a", Slice(1, 3))),
        ("$.a[-2:]", ("a", Slice(-2, None))),
        ("$.a[:-1]", ("a", Slice(None, -1))),
        ("$.a[:]", ("a", Slice())),
        ("$.a[::2]", ("a", Slice(None, None, 2))),
        ("$.a[3:0:-1]", ("a", Slice(3, 0, -1))),
        ("$.a[ 1 : 2 ]", ("a", Slice(1, 2))),
        ("$.a[1:].b", ("a", Slice(1, None), "b")),
        ("$['a b'][1:][0]", ("a b", Slice(1, None), 0)),
    ],
)
def test_slices_parse_to_slice_steps(path: str, steps: tuple[jsonpath.Step, ...]) -> None:
    assert jsonpath.parse(path) == steps
    assert jsonpath.is_valid(path)


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("$.a[::0]", "step of 0"),
        ("$.a[1:2:3:4]", "unsupported bracket"),
        ("$.a[x:]", "unsupported bracket"),
        ("$.a[*]", "wildcards and filters are not supported"),
        ("$.a[?(@.x)]", "wildcards and filters are not supported"),
    ],
)
def test_malformed_slices_and_wildcards_are_refused(path: str, reason: str) -> None:
    with pytest.raises(JSONPathError, match=reason.replace("(", r"\(")):
        jsonpath.parse(path)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("$.input.Hellos[1:]", ["b", "c", "d"]),
        ("$.input.Hellos[:2]", ["a", "b"]),
        ("$.input.Hellos[-2:]", ["c", "d"]),
        ("$.input.Hellos[:-1]", ["a", "b", "c"]),
        ("$.input.Hellos[::2]", ["a", "c"]),
        ("$.input.Hellos[::-1]", ["d", "c", "b", "a"]),
        ("$.input.Hellos[10:]", []),
        ("$.input.Hellos[1:][0]", []),
    ],
)
def test_reading_a_slice_gives_a_list(path: str, value: list[str]) -> None:
    assert jsonpath.get(HELLOS, path) == value


def test_steps_after_a_slice_apply_to_each_element_and_skip_misses() -> None:
    jobs: dict[str, Any] = {"jobs": [{"id": 1}, {"id": 2}, {"name": "no id"}, {"id": 4}]}
    assert jsonpath.get(jobs, "$.jobs[1:].id") == [2, 4]
    grid = {"rows": [[1, 2, 3], [4, 5, 6], [7, 8, 9]]}
    assert jsonpath.get(grid, "$.rows[1:][0]") == [4, 7]
    assert jsonpath.get(grid, "$.rows[:2][1:]") == [2, 3, 5, 6]


@pytest.mark.parametrize("path", ["$.input[1:]", "$.missing[1:]", "$.input.Hellos[0][1:]"])
def test_a_slice_of_what_is_not_a_list_names_nothing(path: str) -> None:
    with pytest.raises(PathNotFound):
        jsonpath.get(HELLOS, path)
    assert not jsonpath.exists(HELLOS, path)


def test_a_slice_cannot_be_written() -> None:
    with pytest.raises(JSONPathError, match=r"contains the slice \[1:\].*such as '\$.items'"):
        jsonpath.parse_reference("$.items[1:]")
    with pytest.raises(JSONPathError, match="names no single place"):
        jsonpath.put({"items": [1, 2]}, "$.items[1:]", [9])
    with pytest.raises(JSONPathError, match="names no single place"):
        jsonpath.put({"items": [1, 2]}, ("items", Slice(1)), [9])  # type: ignore[arg-type]
    assert not jsonpath.is_valid("$.items[1:]", reference=True)
    assert jsonpath.is_valid("$.items[1]", reference=True)
    assert jsonpath.parse_reference("$.items[-1].x") == ("items", -1, "x")


@pytest.mark.parametrize("path", ["$.a[1:]", "$.a[:-1]", "$.a[::2]", "$.a[3:0:-1].b", "$.a[:]"])
def test_slices_format_back_to_the_same_path(path: str) -> None:
    assert jsonpath.format_path(jsonpath.parse(path)) == path


def test_a_slice_step_of_zero_cannot_be_built() -> None:
    with pytest.raises(JSONPathError, match="step cannot be 0"):
        Slice(None, None, 0)

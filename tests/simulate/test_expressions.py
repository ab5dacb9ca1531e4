"""Expressions evaluate like the Flows service (simpleeval + the Globus functions)."""

from __future__ import annotations

from typing import Any

import pytest

from flowgen.simulate.expressions import ExpressionError, evaluate, pathsplit

STATE: dict[str, Any] = {
    "hpc": {"path": "/scratch/proj/", "id": "abc"},
    "ls": {"details": {"DATA": [{"name": "a.txt", "type": "file"}, {"name": "d", "type": "dir"}]}},
    "meta": {"items": [1, 2, 3], "count": 2},
    "label": "Run 42",
    "_context": {"run_id": "r-1", "email": "", "username": "me@uni.edu"},
}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/foo/bar/blech", ["/foo/bar", "blech"]),
        ("/~/path", ["/~/", "path"]),
        ("/x/job/", ["/x/job", ""]),
        ("/~/", ["/~/", ""]),
        ("name", ["", "name"]),
        ("/top", ["/", "top"]),
    ],
)
def test_pathsplit_matches_documented_cases(path: str, expected: list[str]) -> None:
    assert pathsplit(path) == expected
    assert evaluate(f"pathsplit('{path}')", STATE) == expected


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("hpc.path.rstrip('/') + '/' + _context.run_id + '/'", "/scratch/proj/r-1/"),
        ("is_present('ls.details.DATA[1]')", True),
        ("is_present('ls.details.DATA[5]')", False),
        ("is_present('nothing.here')", False),
        ("getattr('hpc.id')", "abc"),
        ("getattr('transfer_label', 'Run ' + _context.run_id)", "Run r-1"),
        ("getattr('missing')", None),
        ("`$.hpc.id` + '!'", "abc!"),
        ("str(len(`$.ls.details.DATA`))", "2"),
        ("`$._context.email` or `$._context.username`", "me@uni.edu"),
        ("`$.nope` is None", True),
        ("[e.name for e in ls.details.DATA if e.type == 'file']", ["a.txt"]),
        ("{e.name: e.type for e in ls.details.DATA}", {"a.txt": "file", "d": "dir"}),
        ("label[:3]", "Run"),
        ("label[-2:]", "42"),
        ("label.split(' ')[-1]", "42"),
        ("label.rpartition(' ')[2]", "42"),
        ("label.endswith('42')", True),
        ("int('7') + float('0.5')", 7.5),
        ("[False] * len(ls.details.DATA)", [False, False]),
        ("'yes' if meta.count > 1 else 'no'", "yes"),
        ("'d' in [e.name for e in ls.details.DATA]", True),
        ("meta['items']", [1, 2, 3]),
        ("(1, 2)", [1, 2]),
    ],
)
def test_expression_values(expression: str, expected: Any) -> None:
    assert evaluate(expression, STATE) == expected


def test_dict_method_gotcha_explains_the_fix() -> None:
    # meta.items is the dict method, not the key: the service behaves the same.
    with pytest.raises(ExpressionError, match=r"obj\['key'\]"):
        evaluate("meta.items", STATE)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("undefined_name + 1", "name 'undefined_name' is not defined"),
        ("hpc['nokey']", "key 'nokey' not found"),
        ("hpc._secret", "not available"),
        ("'x' * 200000", "that long"),
        ("2 ** 10000000", "Sorry"),
        ("1 / 0", "ZeroDivisionError"),
        ("{1, 2}", "not JSON"),
        ("hpc.path.format()", "not available"),
        ("ls.details.DATA[9]", "index out of range"),
    ],
)
def test_expression_errors_are_readable(expression: str, message: str) -> None:
    with pytest.raises(ExpressionError, match=message):
        evaluate(expression, STATE)


def test_missing_backtick_can_be_made_an_error() -> None:
    with pytest.raises(ExpressionError, match="was not found"):
        evaluate("`$.nope`", STATE, missing_backtick_is_error=True)

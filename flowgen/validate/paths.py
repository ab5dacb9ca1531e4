"""Stage 2, path fields: InputPath, ResultPath, the ``...Path`` fields and catchers.

Stage 1 makes sure these are strings; here they must also be JSONPaths of
the subset the service documents, and a ResultPath must name a place the
run may write to.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowgen.core import jsonpath
from flowgen.core.definition import TransitionKind, transitions
from flowgen.core.jsonpath import Token
from flowgen.validate.graph import successors
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import JSONObject, dicts, split_key, states_of

_READ_PATHS = ("InputPath", "SecondsPath", "TimestampPath", "ErrorPath", "CausePath")


def check_jsonpath(value: object, steps: Sequence[Token], report: Reporter, what: str) -> bool:
    """Report ``value`` unless it is a valid JSONPath; True when it is valid.

    Non-strings are left to stage 1 (it reports the type), so they return
    False without a finding.
    """
    if not isinstance(value, str):
        return False
    try:
        jsonpath.parse(value)
    except jsonpath.JSONPathError as exc:
        report.add(
            "FG301",
            steps,
            f"{what} {value!r} is not a valid JSONPath: {exc}; write it like '$.a.b[0]'",
        )
        return False
    return True


def check_result_path(value: object, steps: Sequence[Token], report: Reporter) -> None:
    """A ResultPath (state or catcher) must be a valid path outside ``$._context``."""
    if not check_jsonpath(value, steps, report, "ResultPath"):
        return
    assert isinstance(value, str)
    try:
        parsed = jsonpath.parse_reference(value)
    except jsonpath.JSONPathError as exc:
        # Valid to read (a slice), but a write needs exactly one place.
        report.add("FG301", steps, f"ResultPath {exc}")
        return
    if parsed and parsed[0] == "_context":
        report.add(
            "FG306",
            steps,
            f"ResultPath {value!r} writes into $._context, which is read-only; store the "
            "result elsewhere, e.g. '$.Result'",
        )


def check_paths(definition: object, report: Reporter) -> None:
    """Every state's path fields and every catcher's ResultPath."""
    states = states_of(definition)
    graph: dict[str, list[str]] | None = None  # built only when an Action lacks ResultPath
    for name, state in states.items():
        where: tuple[Token, ...] = ("States", name)
        for key in _READ_PATHS:
            if key in state:
                check_jsonpath(state[key], (*where, key), report, key)
        if "ResultPath" in state:
            check_result_path(state["ResultPath"], (*where, "ResultPath"), report)
        elif state.get("Type") == "Action":
            graph = graph or successors(definition)
            reader = _first_reader(state, states, graph)
            if reader is not None:
                report.add(
                    "FG307",
                    where,
                    f"Action {name!r} has no ResultPath, so its result replaces the whole run "
                    f"state (and the flow input with it) before {reader!r} reads it; add e.g. "
                    f'"ResultPath": "$.{_slug(name)}Result"',
                )
        _check_catchers(state, where, report)


def _check_catchers(state: JSONObject, where: tuple[Token, ...], report: Reporter) -> None:
    for index, catcher in dicts(state.get("Catch")):
        at = (*where, "Catch", index)
        if "ResultPath" in catcher:
            check_result_path(catcher["ResultPath"], (*at, "ResultPath"), report)
        else:
            report.add(
                "FG308",
                at,
                "this Catch has no ResultPath, so the error replaces the whole run state "
                '(the flow input is lost); add e.g. "ResultPath": "$.Error"',
            )


def _first_reader(
    action: JSONObject, states: dict[str, JSONObject], graph: dict[str, list[str]]
) -> str | None:
    """The nearest state that can run after ``action`` succeeds and reads the run state.

    None means the action is final: its result (stored at ``$``) becomes the
    run's output and nothing reads it first, as in Globus's examples that end
    with a Transfer. Catch paths are not followed from the action itself: a
    caught error means its result was never stored.
    """
    queue = [t.target for t in transitions(action) if t.kind is TransitionKind.NEXT]
    seen: set[str] = set()
    while queue:
        name = queue.pop(0)
        if name in seen or name not in graph:
            continue  # a target that does not exist is FG202's finding
        seen.add(name)
        state = states.get(name)
        if state is None or _reads_state(state):
            return name  # a malformed state may read anything
        queue.extend(graph[name])
    return None


def _reads_state(state: JSONObject) -> bool:
    """Whether a state uses any value of the run state (not just passes it on)."""
    if state.get("Type") == "Choice" or any(key in state for key in _READ_PATHS):
        return True
    return _has_reference(state.get("Parameters"))


def _has_reference(value: object) -> bool:
    """Whether a Parameters value holds a ``.$`` path or ``.=`` expression at any depth."""
    if isinstance(value, dict):
        return any(
            (isinstance(key, str) and split_key(key)[1] != "") or _has_reference(item)
            for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_reference(item) for item in value)
    return False


def _slug(name: str) -> str:
    return "".join(ch for ch in name if ch.isalnum()) or "Action"

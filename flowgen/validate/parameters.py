"""Stage 2, Parameters: ``.$`` paths, ``.=`` expressions and ``__Private_Parameters``.

The conventions hold at any depth, including objects inside lists (a
transfer's ``DATA`` items), so the walk descends into every literal value.
The values of ``.$`` and ``.=`` keys are not literals and are not walked.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowgen.core import expressions
from flowgen.core.jsonpath import Token
from flowgen.validate.paths import check_jsonpath
from flowgen.validate.principals import report_principals
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import JSONObject, snippet, split_key, states_of, type_name

PRIVATE_KEY = "__Private_Parameters"

# Parameters whose values are principals (web-input respondents).
_PRINCIPAL_KEYS = {"RespondentUrns": "RespondentUrns"}


def check_parameters(definition: object, report: Reporter) -> None:
    """Walk every state's Parameters object."""
    for name, state in states_of(definition).items():
        params = state.get("Parameters")
        if isinstance(params, dict):
            _walk_object(params, ("States", name, "Parameters"), report)


def check_expression(value: object, steps: Sequence[Token], report: Reporter) -> None:
    """A ``.=`` value must parse, use valid backtick paths and call known functions."""
    if not isinstance(value, str):
        report.add(
            "FG302",
            steps,
            f"the value of a '.=' key must be an expression string, got {type_name(value)}",
        )
        return
    for path in expressions.backtick_paths(value):
        check_jsonpath(path, steps, report, "the backtick JSONPath")
    try:
        tree = expressions.parse(value)
    except expressions.ExpressionSyntaxError as exc:
        report.add("FG302", steps, f"expression {snippet(value)} {exc}")
        return
    unknown = sorted(set(expressions.called_functions(tree)) - expressions.KNOWN_FUNCTIONS)
    if unknown:
        known = ", ".join(sorted(expressions.KNOWN_FUNCTIONS))
        report.add(
            "FG303",
            steps,
            f"expression calls {', '.join(unknown)}, which the Flows service is not known to "
            f"provide (known: {known}); the state may fail at run time",
        )


def _walk(value: object, steps: tuple[Token, ...], report: Reporter) -> None:
    if isinstance(value, dict):
        _walk_object(value, steps, report)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, (*steps, index), report)


def _walk_object(obj: JSONObject, steps: tuple[Token, ...], report: Reporter) -> None:
    produced: dict[str, str] = {}
    for key, value in obj.items():
        at = (*steps, key)
        if key == PRIVATE_KEY:
            _check_private(value, obj, at, report)
            continue
        name, suffix = split_key(key)
        if name in produced:
            report.add(
                "FG309",
                at,
                f"{produced[name]!r} and {key!r} both set the output key {name!r}; keep one",
            )
        produced[name] = key
        if suffix == ".$":
            if isinstance(value, str):
                check_jsonpath(value, at, report, f"the value of {key!r}")
            else:
                report.add(
                    "FG301",
                    at,
                    f"the value of {key!r} must be a JSONPath string such as '$.input.path', "
                    f"got {type_name(value)}",
                )
        elif suffix == ".=":
            check_expression(value, at, report)
        else:
            if isinstance(value, str) and value.startswith("$."):
                report.add(
                    "FG304",
                    at,
                    f"{value!r} looks like a JSONPath but is sent as literal text because the "
                    f"key has no '.$' suffix; to read the value rename the key to '{key}.$'",
                )
            if name in _PRINCIPAL_KEYS:
                report_principals(value, at, report, _PRINCIPAL_KEYS[name])
            _walk(value, at, report)


def _check_private(value: object, obj: JSONObject, at: tuple[Token, ...], report: Reporter) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        report.add(
            "FG305",
            at,
            f"{PRIVATE_KEY} must be a list of parameter names, got {snippet(value)}",
        )
        return
    # A name may be written with or without its .$ / .= suffix.
    siblings = {key for key in obj if key != PRIVATE_KEY}
    siblings |= {split_key(key)[0] for key in siblings}
    for index, name in enumerate(value):
        if name not in siblings:
            report.add(
                "FG305",
                (*at, index),
                f"{PRIVATE_KEY} names {name!r}, which is not a parameter at this level "
                f"(parameters here: {', '.join(sorted(k for k in obj if k != PRIVATE_KEY))})",
            )

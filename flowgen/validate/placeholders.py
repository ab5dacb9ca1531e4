"""Leftover template placeholders: text a template fill step forgot to replace.

A definition produced by filling a template (``sed`` over JSON, as the
original FlowCron set-up script did) is still valid JSON when a value was
missed, and fails only at run time, far from the cause. Three kinds of
marker are found:

* template syntax (``{{ x }}``, ``${X}``, ``<X_ID>``, ``__X__``, ``@@X@@``), in
  every key and string;
* fill-in phrases in angle brackets (``<your collection id>``,
  ``<INSERT YOUR GCS ENDPOINT ID HERE>``), in values that are data;
* bare upper-case words, only where a collection id, a path or a label is
  expected, because elsewhere upper case is ordinary (``SUCCEEDED``,
  ``DATA``, ``FILE_NOT_FOUND``, error names, JSONPaths, keys).

``docs/validation.md`` states exactly where a bare word counts.
``__Private_Parameters`` and other mixed-case dunder names are not markers.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence

from flowgen.core import expressions
from flowgen.core.jsonpath import Token
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import split_key

TEMPLATE = re.compile(
    r"\{\{[^{}]*\}\}"  # {{ name }}  (Jinja, mustache)
    r"|\$\{[^{}]*\}"  # ${NAME}  (shell, envsubst)
    r"|<[A-Z][A-Z0-9_]*>"  # <HPC_COLLECTION_ID>
    r"|__[A-Z][A-Z0-9_]*__"  # __BASE_PATH__
    r"|@@[^@\s]+@@"  # @@NAME@@
)
"""Template syntax: a marker wherever it appears."""

FILL_IN = re.compile(
    r"<[A-Za-z][\w-]*(?: [\w-]+)+>"  # <your collection id>, <INSERT ... HERE>
    r"|<[a-z][a-z0-9]*(?:[_-][a-z0-9]+)+>"  # <collection_id>, <your-uuid>
)
"""Fill-in phrases: words in angle brackets; a single plain word (``<html>``) is not one."""

# ALL_CAPS_WITH_UNDERSCORES (letters only: RUN_0001 is a real name), or a
# run-together upper-case word ending in what a template asks for (HPCNAME).
_BARE_WORD = re.compile(
    r"(?<![A-Za-z0-9_])"
    r"(?:[A-Z]+(?:_[A-Z]+)+|[A-Z]{2,}(?:NAME|UUID|PATH|HOST|USER|ENDPOINT|COLLECTION))"
    r"(?![A-Za-z0-9_])"
)
_MIN_BARE = 6
_WHOLE_WORD = re.compile(r"[A-Z][A-Z0-9_]{2,}")

ID_KEYS = frozenset(
    {
        "id",
        "endpoint",
        "endpoint_id",
        "source_endpoint",
        "source_endpoint_id",
        "destination_endpoint",
        "destination_endpoint_id",
        "collection_id",
    }
)
"""Parameters whose value is a collection id (a UUID): no upper-case word is one."""

# Values that are prose or patterns: upper case there is the author's.
_FREE_TEXT_KEYS = frozenset({"Comment", "Cause", "Error", "description", "title", "pattern"})
# The notification provider fills ${NAME} in body_template from body_variables
# (Globus's transfer-after-approval example): that is its syntax, not a leftover.
_PROVIDER_TEMPLATES = frozenset({"body_template"})
# Input-schema keys whose value stands for the property that holds them.
_VALUE_OF_PROPERTY = frozenset({"default", "const"})


def find_placeholder(text: str) -> str | None:
    """The first template marker or fill-in phrase in ``text``, or None."""
    match = TEMPLATE.search(text) or FILL_IN.search(text)
    return match.group(0) if match else None


def find_bare_placeholder(text: str, key: str) -> str | None:
    """An upper-case word in ``text`` that stands for a value, given its parameter ``key``.

    The whole value of an id or path parameter counts when it is one
    upper-case word (``SOURCE_ENDPOINT_UUID``); inside a path (a string with
    ``/`` and no spaces) or a label, a word of the shapes ``BASE_PATH`` or
    ``HPCNAME``, six characters or more, counts.
    """
    lowered = key.lower()
    is_path_key = lowered.endswith("path")
    if (lowered in ID_KEYS or is_path_key) and _WHOLE_WORD.fullmatch(text):
        return text
    looks_like_path = "/" in text and not any(char.isspace() for char in text)
    if is_path_key or looks_like_path or lowered.endswith("label"):
        for match in _BARE_WORD.finditer(text):
            if len(match.group(0)) >= _MIN_BARE:
                return match.group(0)
    return None


def check_placeholders(document: object, report: Reporter) -> None:
    """Report each string value or key in ``document`` that still holds a placeholder."""
    stack: list[tuple[object, tuple[Token, ...]]] = [(document, ())]
    while stack:
        value, steps = stack.pop()
        if isinstance(value, str):
            marker, bare = _value_marker(value, steps)
            _report(marker, steps, "value", report, code=BARE_CODE if bare else TEMPLATE_CODE)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    _report(find_placeholder(key), (*steps, key), "key", report)
                stack.append((item, (*steps, key)))
        elif isinstance(value, list):
            stack.extend((item, (*steps, index)) for index, item in enumerate(value))


def _value_marker(text: str, steps: Sequence[Token]) -> tuple[str | None, bool]:
    """The placeholder in the string value at ``steps`` and whether it is only a bare word.

    Judged by the key that holds it. A bare upper-case word (kind 3) may be a
    real name (a project called ``CRYO_EM``), so it is reported as a warning.
    """
    key, suffix = split_key(_holder(steps))
    template = _template_marker(text, key)
    if template:
        return template, False
    if key in _FREE_TEXT_KEYS or suffix == ".$" or text.startswith("$"):
        return None, False  # prose, or a JSONPath: upper case and <...> are ordinary there
    # In an expression only its string literals are values: 'i<n and n>0' is code.
    texts = _literals(text) if suffix == ".=" else [text]
    for piece in texts:
        marker = find_placeholder(piece)
        if marker:
            return marker, False
    if key.lower() in ID_KEYS and _WHOLE_WORD.fullmatch(text):
        return text, False  # a collection id is a UUID: a word there is never real
    for piece in texts:
        marker = find_bare_placeholder(piece, key)
        if marker:
            return marker, True
    return None, False


def _template_marker(text: str, key: str) -> str | None:
    for match in TEMPLATE.finditer(text):
        if key in _PROVIDER_TEMPLATES and match.group(0).startswith("${"):
            continue  # the provider substitutes these itself
        return match.group(0)
    return None


def _holder(steps: Sequence[Token]) -> str:
    """The key a value belongs to: the nearest key above it (list items belong to it too)."""
    keys = [step for step in steps if isinstance(step, str)]
    if len(keys) >= 2 and keys[-1] in _VALUE_OF_PROPERTY:
        return keys[-2]  # an input schema's "default" of property "path" is a path
    return keys[-1] if keys else ""


def _literals(expression: str) -> list[str]:
    """The string constants of an expression; the whole text when it does not parse."""
    try:
        tree = expressions.parse(expression)
    except expressions.ExpressionSyntaxError:
        return [expression]  # FG302 reports it; still say what was left unfilled
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


TEMPLATE_CODE = "FG601"
BARE_CODE = "FG603"


def _report(
    marker: str | None,
    steps: tuple[Token, ...],
    what: str,
    report: Reporter,
    *,
    code: str = TEMPLATE_CODE,
) -> None:
    if not marker:
        return
    if code == BARE_CODE:
        report.add(
            code,
            steps,
            f"the {what} holds {marker!r}, an upper-case word where an id, path or label "
            "goes, as placeholders are written; fill in the real value if it is one (a real "
            "name such as a project folder is fine: --strict then needs it read from the "
            "run input instead)",
        )
        return
    report.add(
        code,
        steps,
        f"the {what} still contains the template placeholder {marker!r}; fill in the real "
        "value (flowgen build writes definitions without placeholders)",
    )

"""Leftover template placeholders: text a template fill step forgot to replace.

A definition produced by filling a template (``sed`` over JSON, as the
original FlowCron set-up script did) is still valid JSON when a value was
missed, and fails only at run time, far from the cause. The markers below
are the common template styles; ``__Private_Parameters`` and other mixed-case
dunder names are not markers.
"""

from __future__ import annotations

import re

from flowgen.jsonpath import Token
from flowgen.validate.rules import Reporter

PLACEHOLDER = re.compile(
    r"\{\{[^{}]*\}\}"  # {{ name }}  (Jinja, mustache)
    r"|\$\{[^{}]*\}"  # ${NAME}  (shell, envsubst)
    r"|<[A-Z][A-Z0-9_]*>"  # <HPC_COLLECTION_ID>
    r"|__[A-Z][A-Z0-9_]*__"  # __BASE_PATH__
    r"|@@[^@\s]+@@"  # @@NAME@@
)


def find_placeholder(text: str) -> str | None:
    """The first placeholder marker in ``text``, or None."""
    match = PLACEHOLDER.search(text)
    return match.group(0) if match else None


def check_placeholders(document: object, report: Reporter) -> None:
    """Report each string value or key in ``document`` that still holds a placeholder."""
    stack: list[tuple[object, tuple[Token, ...]]] = [(document, ())]
    while stack:
        value, steps = stack.pop()
        if isinstance(value, str):
            _report(value, steps, "value", report)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    _report(key, (*steps, key), "key", report)
                stack.append((item, (*steps, key)))
        elif isinstance(value, list):
            stack.extend((item, (*steps, index)) for index, item in enumerate(value))


def _report(text: str, steps: tuple[Token, ...], what: str, report: Reporter) -> None:
    marker = find_placeholder(text)
    if marker:
        report.add(
            "FG601",
            steps,
            f"the {what} still contains the template placeholder {marker!r}; fill in the real "
            "value (flowgen build writes definitions without placeholders)",
        )

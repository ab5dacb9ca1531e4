"""Stage 2, rules within one state that a JSON Schema cannot say clearly.

Action: exactly one of ActionUrl and Handler, and something to send
(Parameters or InputPath). Wait: exactly one duration field, and a real
timestamp. Fail: each of Error and Cause set at most one way.
"""

from __future__ import annotations

from flowgen.core.jsonpath import Token
from flowgen.validate.rules import Reporter
from flowgen.validate.shape import JSONObject, snippet, states_of
from flowgen.validate.timestamps import EXAMPLE, is_rfc3339

WAIT_FIELDS = ("Seconds", "Timestamp", "SecondsPath", "TimestampPath")


def check_states(definition: object, report: Reporter) -> None:
    """Per-state rules for Action, Wait and Fail states."""
    for name, state in states_of(definition).items():
        where: tuple[Token, ...] = ("States", name)
        state_type = state.get("Type")
        if state_type == "Action":
            _check_action(name, state, where, report)
        elif state_type == "Wait":
            _check_wait(name, state, where, report)
        elif state_type == "Fail":
            _check_fail(state, where, report)


def _check_action(name: str, state: JSONObject, where: tuple[Token, ...], report: Reporter) -> None:
    has_url, has_handler = "ActionUrl" in state, "Handler" in state
    if has_url == has_handler:
        problem = "has both" if has_url else "needs one of"
        report.add(
            "FG401",
            where,
            f"Action {name!r} {problem} ActionUrl and Handler; give exactly one, usually "
            '"ActionUrl": "https://transfer.actions.globus.org/<operation>"',
        )
    if "Parameters" not in state and "InputPath" not in state:
        report.add(
            "FG402",
            where,
            f"Action {name!r} sends nothing to its provider; add Parameters (the request body) "
            "or InputPath (a JSONPath whose value is sent)",
        )


def _check_wait(name: str, state: JSONObject, where: tuple[Token, ...], report: Reporter) -> None:
    given = [key for key in WAIT_FIELDS if key in state]
    if len(given) != 1:
        found = f"has {', '.join(given)}" if given else "has none"
        report.add(
            "FG403",
            where,
            f"Wait {name!r} needs exactly one of {', '.join(WAIT_FIELDS)} but {found}",
        )
    timestamp = state.get("Timestamp")
    if isinstance(timestamp, str) and not is_rfc3339(timestamp):
        report.add(
            "FG404",
            (*where, "Timestamp"),
            f"Timestamp {snippet(timestamp)} is not an RFC 3339 date-time; write it like "
            f"{EXAMPLE!r} (date, 'T', time, time zone)",
        )


def _check_fail(state: JSONObject, where: tuple[Token, ...], report: Reporter) -> None:
    for field in ("Error", "Cause"):
        if field in state and f"{field}Path" in state:
            report.add(
                "FG405",
                (*where, f"{field}Path"),
                f"a Fail state takes {field} or {field}Path, not both; keep {field} for fixed "
                f"text or {field}Path to read it from the run state",
            )

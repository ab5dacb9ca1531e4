"""Stage 2, per-state rules: Action, Wait, Fail."""

from __future__ import annotations

import pytest

from flowgen.validate.timestamps import is_rfc3339

from .helpers import DROP, action, check, located, message, single


def test_action_needs_action_url_or_handler() -> None:
    findings = check(single(action(ActionUrl=DROP)))
    assert located(findings) == {("FG401", "$.States.Only")}
    assert "needs one of ActionUrl and Handler" in message(findings, "FG401")
    both = check(single(action(Handler="urn:globus:flows:handle:globus:transfer.stat")))
    assert located(both) == {("FG401", "$.States.Only")}
    assert "has both" in message(both, "FG401")
    assert check(single(action())) == []


def test_action_needs_parameters_or_input_path() -> None:
    findings = check(single(action(Parameters=DROP)))
    assert located(findings) == {("FG402", "$.States.Only")}
    assert "InputPath" in message(findings, "FG402")
    assert check(single(action(Parameters=DROP, InputPath="$.request"))) == []


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"Seconds": 5, "SecondsPath": "$.s"},
        {"Timestamp": "2026-01-01T00:00:00Z", "TimestampPath": "$.t"},
    ],
)
def test_wait_needs_exactly_one_duration(fields: dict[str, object]) -> None:
    findings = check(single({"Type": "Wait", "End": True, **fields}))
    assert ("FG403", "$.States.Only") in located(findings)


@pytest.mark.parametrize(
    "fields",
    [
        {"Seconds": 0},
        {"Seconds": 600},
        {"Timestamp": "2026-05-01T12:00:00+01:00"},
        {"SecondsPath": "$.s"},
    ],
)
def test_wait_with_one_duration_is_fine(fields: dict[str, object]) -> None:
    assert check(single({"Type": "Wait", "End": True, **fields})) == []


@pytest.mark.parametrize(("value", "code"), [(-1, "FG105"), (1.5, "FG101"), ("60", "FG101")])
def test_wait_seconds_is_a_non_negative_integer(value: object, code: str) -> None:
    findings = check(single({"Type": "Wait", "Seconds": value, "End": True}))
    assert (code, "$.States.Only.Seconds") in located(findings)


def test_wait_timestamp_must_be_rfc3339() -> None:
    findings = check(single({"Type": "Wait", "Timestamp": "tomorrow", "End": True}))
    assert located(findings) == {("FG404", "$.States.Only.Timestamp")}
    assert "2026-05-01T12:00:00Z" in message(findings, "FG404")


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("2026-05-01T12:00:00Z", True),
        ("2026-05-01t12:00:00.123456+05:30", True),
        ("2016-12-31T23:59:60Z", True),
        ("2026-05-01T12:00:00", False),
        ("2026-05-01 12:00:00Z", False),
        ("2026-13-01T12:00:00Z", False),
        ("2026-02-30T12:00:00Z", False),
        ("2026-05-01T12:00:00+25:00", False),
        ("2026-05-01", False),
    ],
)
def test_rfc3339(text: str, valid: bool) -> None:
    assert is_rfc3339(text) is valid


@pytest.mark.parametrize("field", ["Error", "Cause"])
def test_fail_sets_each_field_one_way(field: str) -> None:
    findings = check(single({"Type": "Fail", field: "x", f"{field}Path": "$.x"}))
    assert located(findings) == {("FG405", f"$.States.Only.{field}Path")}
    assert check(single({"Type": "Fail", "Error": "x", "CausePath": "$.c"})) == []
    assert check(single({"Type": "Fail"})) == []

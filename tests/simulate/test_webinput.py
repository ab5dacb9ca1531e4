"""Web inputs (CreateWebInput/AwaitWebInput) answered with ``--web-input``, or left to expire."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from flowgen.cli import _register, app
from flowgen.simulate import SimulatorOptions, WebInputError, simulate
from flowgen.simulate.webinput import RECORD
from flowgen.validate import validate_definition

_register()

GROUP = "urn:globus:groups:id:6f1e4d7c-1a2b-4c3d-8e9f-0a1b2c3d4e5f"
WEEK = 7 * 86_400


def approval_flow(*, catch_expiry: bool = True) -> dict[str, Any]:
    """Ask a group to approve, then branch on the answer (the shape of Globus's sign-off example)."""
    await_state: dict[str, Any] = {
        "Type": "AwaitWebInput",
        "Parameters": {"web_input_id.$": "$.question.web_input_id"},
        "ResultPath": "$.answer",
        "Next": "Decide",
    }
    if catch_expiry:
        await_state["Catch"] = [
            {"ErrorEquals": ["Flows.WebInputExpired"], "ResultPath": "$.answer", "Next": "NoAnswer"}
        ]
    return {
        "StartAt": "Ask",
        "States": {
            "Ask": {
                "Type": "CreateWebInput",
                "Parameters": {
                    "InputType": "Selection",
                    "Context": {
                        "PresentationStyle": "Table",
                        "Title": "Copy the data?",
                        "Rows": [{"Field": "Requested by", "Value.$": "$._context.username"}],
                    },
                    "Options": [
                        {"Value": "approve", "Label": "Approve"},
                        {"Value": "deny", "Label": "Deny"},
                    ],
                    "RespondentUrns": [GROUP],
                },
                "ResultPath": "$.question",
                "Next": "Wait for answer",
            },
            "Wait for answer": await_state,
            "Decide": {
                "Type": "Choice",
                "Choices": [
                    {"Variable": "$.answer.response", "StringEquals": "approve", "Next": "Approved"}
                ],
                "Default": "Denied",
            },
            "Approved": {"Type": "Pass", "End": True},
            "Denied": {"Type": "Fail", "Error": "Denied", "Cause": "The request was denied."},
            "NoAnswer": {"Type": "Fail", "Error": "NoAnswer", "Cause": "Nobody answered."},
        },
    }


def run_cli(tmp_path: Path, definition: dict[str, Any], *extra: str) -> Any:
    (tmp_path / "flow.json").write_text(json.dumps(definition))
    (tmp_path / "in.json").write_text("{}")
    argv = ["simulate", str(tmp_path / "flow.json"), "--input", str(tmp_path / "in.json")]
    return CliRunner().invoke(app, [*argv, *extra])


def test_an_approval_answer_reaches_the_choice(tmp_path: Path) -> None:
    # flowgen validate accepts web-input states, so the simulator must run them.
    assert [f for f in validate_definition(approval_flow()) if f.severity.value == "error"] == []
    result = run_cli(
        tmp_path, approval_flow(), "--web-input", "Wait for answer=approve", "--format", "json"
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    output = document["details"]["output"]
    assert output["answer"] == {
        "web_input_id": output["question"]["web_input_id"],
        "response": "approve",
    }
    assert document["stats"]["elapsed_seconds"] == 0
    codes = [entry["code"] for entry in document["log"]]
    assert codes[1:5] == [
        "CreateWebInputStarted",
        "CreateWebInputCompleted",
        "AwaitWebInputStarted",
        "AwaitWebInputCompleted",
    ]


def test_a_json_answer_and_a_file_answer_are_read(tmp_path: Path) -> None:
    (tmp_path / "answer.json").write_text('"deny"\n')
    missing = run_cli(tmp_path, approval_flow(), "--web-input", "Wait for answer=@nowhere.json")
    assert missing.exit_code == 2
    assert "nowhere.json: no such file" in missing.output
    by_file = run_cli(
        tmp_path, approval_flow(), "--web-input", f"Wait for answer=@{tmp_path / 'answer.json'}"
    )
    assert by_file.exit_code == 1
    assert "Failed in state 'Denied': Denied" in by_file.output
    as_json = run_cli(tmp_path, approval_flow(), "--web-input", 'Wait for answer="approve"')
    assert as_json.exit_code == 0, as_json.output


def test_without_an_answer_the_web_input_expires_after_a_week_and_can_be_caught(
    tmp_path: Path,
) -> None:
    result = run_cli(tmp_path, approval_flow(), "--format", "json")
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    assert document["details"]["state_name"] == "NoAnswer"
    answer = document["details"]["output"]["answer"]
    assert answer["Error"] == "Flows.WebInputExpired"
    assert "--web-input Wait for answer=VALUE" in answer["Cause"]
    assert document["stats"]["elapsed_seconds"] == WEEK


def test_an_uncaught_expiry_fails_the_run_naming_the_error(tmp_path: Path) -> None:
    result = run_cli(tmp_path, approval_flow(catch_expiry=False))
    assert result.exit_code == 1
    assert "Failed in state 'Wait for answer': Flows.WebInputExpired" in result.output


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            "Wait for answer=maybe",
            "the answer \"maybe\" for AwaitWebInput state 'Wait for answer' is not an option "
            'of the web input that state \'Ask\' created; give one of "approve", "deny"',
        ),
        (
            "Ask=approve",
            "web-input answer for 'Ask': the flow has no AwaitWebInput state of that name "
            "(its AwaitWebInput states are 'Wait for answer')",
        ),
        ("approve", "expected STATE=JSON or STATE=@FILE"),
    ],
)
def test_an_answer_that_does_not_fit_is_a_usage_error(
    tmp_path: Path, answer: str, message: str
) -> None:
    result = run_cli(tmp_path, approval_flow(), "--web-input", answer)
    assert result.exit_code == 2
    assert message in result.output


def test_each_visit_of_a_state_takes_the_next_answer(tmp_path: Path) -> None:
    # Ask again until approved: the first answer denies, the second approves.
    definition = approval_flow()
    definition["States"]["Decide"]["Default"] = "Ask"
    result = run_cli(
        tmp_path,
        definition,
        "--web-input",
        "Wait for answer=deny",
        "--web-input",
        "Wait for answer=approve",
        "--verbose",
    )
    assert result.exit_code == 0, result.output
    assert result.output.count("Wait for answer  (AwaitWebInput)") == 2


def test_a_selection_without_options_fails_the_state(tmp_path: Path) -> None:
    definition = approval_flow()
    del definition["States"]["Ask"]["Parameters"]["Options"]
    result = run_cli(tmp_path, definition, "--web-input", "Wait for answer=approve")
    assert result.exit_code == 1
    assert "The Selection of CreateWebInput state 'Ask' needs Options" in result.output


def test_awaiting_an_unknown_web_input_fails_the_state(tmp_path: Path) -> None:
    definition = approval_flow()
    definition["States"]["Wait for answer"]["Parameters"] = {"web_input_id": "made-up"}
    result = run_cli(tmp_path, definition, "--web-input", "Wait for answer=approve")
    assert result.exit_code == 1
    assert "awaits web input 'made-up', which no CreateWebInput state" in result.output


def test_the_created_web_inputs_are_recorded_with_their_parameters() -> None:
    result = simulate(
        approval_flow(),
        {},
        collections={},
        context={"username": "pi@uni.edu"},
        web_inputs={"Wait for answer": ["approve"]},
    )
    (web_input,) = result.records[RECORD]
    assert (web_input.state_name, web_input.status, web_input.response) == (
        "Ask",
        "answered",
        "approve",
    )
    assert web_input.options == ["approve", "deny"]
    assert web_input.parameters["Context"]["Rows"] == [
        {"Field": "Requested by", "Value": "pi@uni.edu"}
    ]


def test_options_set_the_expiry_or_make_a_missing_answer_an_error() -> None:
    quick = simulate(
        approval_flow(), {}, collections={}, options=SimulatorOptions(web_input_expiry_seconds=60)
    )
    assert (quick.failed_state, quick.stats.elapsed_seconds) == ("NoAnswer", 60)
    with pytest.raises(WebInputError, match="none is left; give one with --web-input"):
        simulate(
            approval_flow(),
            {},
            collections={},
            options=SimulatorOptions(unanswered_web_input="error"),
        )


def _documented_example(start: str) -> list[str]:
    """The ``Example:`` of ``flowgen simulate --help`` beginning with ``start``, as argv."""
    from flowgen.cli.simulate import simulate as command

    text = (command.__doc__ or "").split(f"Example: flowgen {start}", 1)[1].split("\n\n")[0]
    return shlex.split(start + text)


def test_the_web_input_example_of_the_help_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = _documented_example("simulate signoff.json")
    laptop_id = next(a for a in argv if a.endswith("=./laptop:managed")).split("=")[0]
    signoff = approval_flow()
    signoff["States"]["AwaitResponse"] = signoff["States"].pop("Wait for answer")
    signoff["States"]["Ask"]["Next"] = "AwaitResponse"
    signoff["States"]["Ask"]["Parameters"]["Context"]["Rows"] = [
        {"Field": "Source", "Value.$": "$.source_info.details.display_name"}
    ]
    signoff["StartAt"] = "LookUpSource"
    signoff["States"]["LookUpSource"] = {
        "Type": "Action",
        "ActionUrl": "https://transfer.actions.globus.org/collection_info",
        "Parameters": {"endpoint_id.$": "$.source.id"},
        "ResultPath": "$.source_info",
        "Next": "Ask",
    }
    (tmp_path / "signoff.json").write_text(json.dumps(signoff))
    (tmp_path / "in.json").write_text(json.dumps({"source": {"id": laptop_id}}))
    (tmp_path / "laptop").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("SUCCEEDED after 5 states")


def test_answers_from_python_must_be_lists() -> None:
    with pytest.raises(WebInputError, match=r"must be a list, one answer per visit \(e\.g\."):
        simulate(approval_flow(), {}, collections={}, web_inputs={"Wait for answer": "approve"})

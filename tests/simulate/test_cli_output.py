"""What ``flowgen simulate`` prints: a short summary, the log with --verbose, a bounded JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from flowgen.cli import _register, app
from flowgen.simulate.summary import OUTPUT_LINES

_register()

COUNTING_LOOP = {
    "StartAt": "Count",
    "States": {
        "Count": {
            "Type": "ExpressionEval",
            "Parameters": {"n.=": "count.n + 1"},
            "ResultPath": "$.count",
            "Next": "Count",
        }
    },
}
"""A loop that never ends: --max-states stops it."""

PAYLOAD = ["x" * 100] * 100
"""10 KB carried in the run state, about the size of the FlowCron flow's state."""

TWENTY_MB = 20_000_000


def run_cli(tmp_path: Path, definition: dict[str, Any], run_input: Any, *extra: str) -> Any:
    (tmp_path / "flow.json").write_text(json.dumps(definition))
    (tmp_path / "in.json").write_text(json.dumps(run_input))
    argv = ["simulate", str(tmp_path / "flow.json"), "--input", str(tmp_path / "in.json")]
    return CliRunner().invoke(app, [*argv, *extra])


def two_states(output: dict[str, Any]) -> dict[str, Any]:
    return {
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 90, "Next": "Done"},
            "Done": {"Type": "Pass", "Result": output, "ResultPath": "$.result", "End": True},
        },
    }


def test_the_default_text_is_a_summary_of_the_run(tmp_path: Path) -> None:
    result = run_cli(tmp_path, two_states({"answer": 42}), {})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[1:3] == ["Last state: Done", "Output:"]
    assert lines[0].startswith("SUCCEEDED after 2 states, 00:01:30 of flow time (0 action calls, ")
    assert json.loads("\n".join(lines[3:])) == {"result": {"answer": 42}}
    assert "(Wait)" not in result.output


def test_verbose_text_shows_every_state_as_it_starts(tmp_path: Path) -> None:
    result = run_cli(tmp_path, two_states({}), {}, "--verbose")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:2] == [
        "+00:00:00  Pause  (Wait)",
        "+00:01:30  Done  (Pass)",
    ]


def test_a_long_output_is_cut_in_the_summary_and_whole_in_json(tmp_path: Path) -> None:
    big = {f"key{i}": i for i in range(100)}
    text = run_cli(tmp_path, two_states(big), {})
    assert text.exit_code == 0, text.output
    lines = text.output.splitlines()
    assert len(lines) == 3 + OUTPUT_LINES + 1
    assert lines[-1].endswith("more lines (--format json prints it all)")
    document = json.loads(run_cli(tmp_path, two_states(big), {}, "--format", "json").stdout)
    assert document["details"]["output"]["result"] == big


def test_a_failed_run_shows_the_error_and_where_the_state_is(tmp_path: Path) -> None:
    result = run_cli(tmp_path, COUNTING_LOOP, {"count": {"n": 0}}, "--max-states", "5")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0].startswith("FAILED after 5 states, 00:00:00 of flow time")
    assert lines[1] == "Last state: Count"
    assert lines[2].startswith("Failed in state 'Count': States.StateLimitExceeded: ")
    assert lines[3] == "The final run state is in the run document (--format json)."
    assert len(lines) == 4


def test_a_10000_state_run_prints_a_json_document_under_20_mb(tmp_path: Path) -> None:
    run_input = {"count": {"n": 0}, "payload": PAYLOAD}
    result = run_cli(
        tmp_path, COUNTING_LOOP, run_input, "--format", "json", "--max-states", "10000"
    )
    assert result.exit_code == 1
    assert len(result.stdout_bytes) < TWENTY_MB
    document = json.loads(result.stdout)
    assert document["stats"]["states_executed"] == 10_000
    assert document["details"]["output"]["count"] == {"n": 10_000}
    note = document["log_truncated"]
    assert note["entries"] == 2 + 2 * 10_000
    assert (
        note["kept"] == len(document["log"]) and note["left_out"] == note["entries"] - note["kept"]
    )
    assert "--format json --verbose" in note["note"]
    assert document["log"][-1]["code"] == "FlowFailed"


def test_verbose_json_keeps_every_log_entry(tmp_path: Path) -> None:
    run_input = {"count": {"n": 0}, "payload": PAYLOAD}
    argv = ["--format", "json", "--max-states", "600", "--verbose"]
    document = json.loads(run_cli(tmp_path, COUNTING_LOOP, run_input, *argv).stdout)
    assert "log_truncated" not in document
    assert len(document["log"]) == 2 + 2 * 600

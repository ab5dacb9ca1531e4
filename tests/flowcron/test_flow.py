"""The built FlowCron flow: golden files, the protocol, and the rules every Action follows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from flowgen.core import jsonio
from flowgen.dsl import PollPolicy
from flowgen.flowcron import build, load_config
from flowgen.flowcron.build import build_checked
from flowgen.flowcron.config import FlowConfig
from flowgen.flowcron.flow import human_duration, shorten_expr
from flowgen.validate import validate_flow
from hpc_agent import protocol

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "flows" / "example.toml"
GOLDEN = ROOT / "flows" / "build" / "example"
REGENERATE = "run 'make flows' and review the diff before committing"


@pytest.fixture(scope="module")
def built() -> Any:
    return build(load_config(EXAMPLE))


def test_matches_the_committed_golden_files(built: Any) -> None:
    for name, data in zip(built.file_names(), (built.definition, built.input_schema), strict=True):
        committed = (GOLDEN / name).read_text(encoding="utf-8")
        assert jsonio.dumps(data) == committed, f"{name} changed: {REGENERATE}"


def test_output_is_byte_identical_across_builds(tmp_path: Path) -> None:
    first = build(load_config(EXAMPLE)).write(tmp_path / "a")
    second = build(load_config(EXAMPLE)).write(tmp_path / "b")
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.read_text().endswith("}\n")


def test_validates_without_errors_or_warnings(built: Any) -> None:
    assert validate_flow(built.definition, built.input_schema) == []


def _actions(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in definition["States"].items() if s["Type"] == "Action"}


def test_every_action_catches_with_a_result_path_and_is_explicit(built: Any) -> None:
    actions = _actions(built.definition)
    assert len(actions) >= 10
    for name, state in actions.items():
        assert "ExceptionOnActionFailure" in state, name
        assert state.get("ResultPath"), name
        assert state["Catch"], name
        for catcher in state["Catch"]:
            assert catcher["ResultPath"], name
            assert set(catcher["ErrorEquals"]) == {
                "ActionUnableToRun",
                "ActionFailedException",
                "ActionTimeout",
            }


def test_paths_come_from_the_protocol(built: Any) -> None:
    text = json.dumps(built.definition)
    base = load_config(EXAMPLE).base_path
    for directory in (protocol.UPLOADED, protocol.RUNNING, protocol.ANALYSED, protocol.FAILED):
        assert f"{base}/{directory}/" in text
    assert protocol.REPORT_TEXT in text
    set_paths = built.definition["States"]["SetPaths"]["Parameters"]
    assert set_paths["sentinels.="].endswith("'sentinels/'")


def test_upload_and_return_transfers(built: Any) -> None:
    states = built.definition["States"]
    upload = states["Upload"]["Parameters"]
    assert upload["verify_checksum"] is True and upload["preserve_timestamp"] is True
    assert upload["DATA"] == [
        {
            "source_path.$": "$.input.source.path",
            "destination_path.$": "$.paths.uploaded",
            "recursive": True,
        }
    ]
    assert states["Upload"]["WaitTime"] == 172800
    for name, hpc_path in (
        ("ReturnResults", "$.paths.analysed"),
        ("ReturnFailedJob", "$.paths.failed"),
    ):
        params = states[name]["Parameters"]
        assert params["sync_level"] == 2 and params["verify_checksum"] is True
        assert params["DATA"][0]["source_path.$"] == hpc_path
        assert params["DATA"][0]["destination_path.$"] == "$.input.source.path"
    assert states["MarkUploadComplete"]["ActionUrl"].endswith("/mkdir")


def test_results_come_back_only_after_sentinels_are_gone(built: Any) -> None:
    states = built.definition["States"]
    # The only ways into the return transfers are the "sentinels gone" checks.
    into = {
        target: source
        for source, state in states.items()
        for target in _targets(state)
        if target in ("ReturnResults", "ReturnFailedJob")
    }
    assert into == {"ReturnResults": "IsAnalysedFinished", "ReturnFailedJob": "IsFailedFinished"}
    rule = states["IsAnalysedFinished"]["Choices"][0]
    assert {"Variable": "$.check.details.code", "StringEquals": "NotFound"} in rule["And"]
    assert states["CheckAnalysedSentinels"]["Parameters"]["path.$"] == "$.paths.analysed_sentinels"
    assert states["CheckFailedSentinels"]["Parameters"]["path.$"] == "$.paths.failed_sentinels"


def _targets(state: dict[str, Any]) -> list[str]:
    found = [state.get("Next"), state.get("Default")]
    found += [c.get("Next") for c in state.get("Choices", [])]
    found += [c.get("Next") for c in state.get("Catch", [])]
    return [t for t in found if t]


def test_polling_is_bounded_by_the_configured_deadline(built: Any) -> None:
    states = built.definition["States"]
    assert states["WaitForJobDeadlineCheck"]["Choices"][0] == {
        "Variable": "$.poll.waited",
        "NumericGreaterThanEquals": 604800,
        "Next": "JobDeadline",
    }
    assert "7 days" in states["JobDeadline"]["Parameters"]["message.="]
    assert states["WaitForJobStart"]["Parameters"] == {"wait": 30, "waited": 30, "polls": 0}


def test_input_schema_shape(built: Any) -> None:
    assert built.input_schema["required"] == ["input"]
    schema = built.input_schema["properties"]["input"]
    assert schema["required"] == ["source"]
    assert schema["propertyOrder"] == ["source", "delete"]
    source = schema["properties"]["source"]
    assert source["format"] == "globus-collection"
    assert set(source["properties"]) == {"id", "path"}
    assert schema["properties"]["delete"] == {
        **schema["properties"]["delete"],
        "type": "boolean",
        "default": False,
    }


@pytest.mark.parametrize(
    ("path", "ok"),
    [
        ("/~/uow/", True),
        ("/data/my uow/", True),
        ("/uow", False),
        ("/", False),
        ("uow/", False),
        ("/a//", False),
    ],
)
def test_source_path_must_name_a_folder_and_end_with_slash(built: Any, path: str, ok: bool) -> None:
    import jsonschema

    instance = {"input": {"source": {"id": "5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10", "path": path}}}
    errors = list(jsonschema.Draft7Validator(built.input_schema).iter_errors(instance))
    assert (not errors) is ok


def test_label_shortening_expression_matches_the_protocol() -> None:
    expression = shorten_expr("name")
    for name in ("short", "x" * 30, "x" * 31, "a_really_long_unit_of_work_folder_name"):
        assert eval(expression, {}, {"name": name}) == protocol.shorten_label(name)


def test_human_duration() -> None:
    assert human_duration(604800) == "7 days"
    assert human_duration(3600) == "1 hour"
    assert human_duration(90) == "90 seconds"


def test_instance_values_reach_the_flow(tmp_path: Path) -> None:
    cfg = FlowConfig(
        name="bask",
        hpc_name="Baskerville",
        collection="0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
        base_path="/bask/projects/x/flowcron",
        polling=PollPolicy(initial_wait=30, growth=1.5, max_wait=600, deadline=86400),
        transfer_wait_time=3600,
    )
    definition = build(cfg).definition
    text = json.dumps(definition)
    assert "/bask/projects/x/flowcron/UploadedFiles/" in text
    assert '"destination_endpoint": "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"' in text
    assert definition["States"]["Upload"]["WaitTime"] == 3600
    assert "1 day" in definition["States"]["JobDeadline"]["Parameters"]["message.="]


def test_build_checked_writes_nothing_for_a_bad_config(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('name = "x"\n')
    from flowgen.core.errors import ConfigError

    with pytest.raises(ConfigError, match="field 'hpc_name': missing"):
        build_checked(config)


def test_every_transfer_label_fits_globus_limit_with_the_longest_names() -> None:
    """Globus refuses labels over 128 characters: long instance names are shortened in them."""
    from types import SimpleNamespace

    from flowgen.flowcron.config import MAX_DISPLAY

    cfg = FlowConfig(
        name="n" * protocol.INSTANCE_NAME_MAX,
        hpc_name="H" * MAX_DISPLAY,
        collection="0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
        base_path="/bask/projects/x/flowcron",
    )
    # A folder name of exactly LABEL_LIMIT characters is kept whole: the longest label part.
    longest_short = max((protocol.shorten_label("f" * n) for n in range(1, 100)), key=len)
    labels = [
        eval(state["Parameters"]["label.="], {}, {"paths": SimpleNamespace(short=longest_short)})
        for state in _actions(build(cfg).definition).values()
        if "label.=" in state.get("Parameters", {})
    ]
    assert len(labels) == 5, "every Transfer and Delete of the flow carries a label"
    assert max(len(label) for label in labels) <= 128, max(labels, key=len)


def test_a_dotted_instance_name_builds_a_valid_flow() -> None:
    cfg = FlowConfig(
        name="cryo.em-lab",
        hpc_name="Baskerville",
        collection="0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
        base_path="/bask/projects/x/flowcron",
    )
    built = build(cfg)
    assert built.file_names() == (
        "FlowCron-cryo.em-lab_definition.json",
        "FlowCron-cryo.em-lab_input_schema.json",
    )
    assert validate_flow(built.definition, built.input_schema) == []

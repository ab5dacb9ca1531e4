"""Stage 2, leftover template placeholders."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowgen.validate import validate_input_schema
from flowgen.validate.placeholders import find_bare_placeholder, find_placeholder

from .helpers import DROP, action, check, codes, flow, located, message, pass_state, single


@pytest.mark.parametrize(
    "text",
    [
        "{{ collection_id }}",
        "/base/${BASE_PATH}/in",
        "<HPC_COLLECTION_ID>",
        "__BASE_PATH__/UploadedFiles",
        "@@NAME@@",
    ],
)
def test_each_template_style_is_found(text: str) -> None:
    assert find_placeholder(text) is not None


@pytest.mark.parametrize(
    "text",
    [
        "__Private_Parameters",
        "__flowgen_backtick_0",
        "a < b and c > d",
        "<html>",
        "$.input.path",
        "user@example.org",
        "cost: $5 {not a template}",
    ],
)
def test_ordinary_text_is_not_a_placeholder(text: str) -> None:
    assert find_placeholder(text) is None


def test_placeholder_in_a_value_is_located() -> None:
    definition = single(action(Parameters={"endpoint_id": "<HPC_COLLECTION_ID>", "path": "/x"}))
    findings = check(definition)
    assert located(findings) == {("FG601", "$.States.Only.Parameters.endpoint_id")}
    assert "'<HPC_COLLECTION_ID>'" in message(findings, "FG601")


def test_placeholder_in_a_key_is_located() -> None:
    definition = single(action(Parameters={"endpoint_id": "e", "path": "/x", "{{extra}}": 1}))
    assert ("FG601", "$.States.Only.Parameters['{{extra}}']") in located(check(definition))


def test_placeholder_in_a_state_name_and_comment() -> None:
    definition = {
        "Comment": "for @@SITE@@",
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "End": True}},
    }
    assert located(check(definition)) == {("FG601", "$.Comment")}


def test_private_parameters_are_not_flagged() -> None:
    parameters = {"endpoint_id": "e", "path.$": "$._private.p", "__Private_Parameters": ["path"]}
    assert check(single(action(Parameters=parameters))) == []


def test_placeholders_in_input_schemas() -> None:
    schema = {"type": "object", "properties": {"x": {"type": "string", "default": "${HOME}"}}}
    findings = validate_input_schema(schema)
    assert located(findings) == {("FG601", "$.properties.x.default")}


@pytest.mark.parametrize(
    "text",
    [
        "<INSERT YOUR GCS ENDPOINT ID HERE>",
        "<your collection id>",
        "/~/<your folder>/data",
        "<collection_id>",
        "<your-uuid>",
    ],
)
def test_fill_in_phrases_in_angle_brackets_are_found(text: str) -> None:
    assert find_placeholder(text) is not None


@pytest.mark.parametrize(
    ("key", "text", "marker"),
    [
        ("endpoint_id", "SOURCE_ENDPOINT_UUID", "SOURCE_ENDPOINT_UUID"),
        ("destination_endpoint", "HPC", "HPC"),
        ("path", "DESTINATION", "DESTINATION"),
        ("destination_path", "/FLOWCRON_BASE_PATH/UploadedFiles/", "FLOWCRON_BASE_PATH"),
        ("UploadedFilesLocation", "FLOWCRON_BASE_PATH/UploadedFiles/", "FLOWCRON_BASE_PATH"),
        ("label", "Transfer to HPCNAME", "HPCNAME"),
        ("TransferToHPCNAMELabel", " to HPCNAME, flow run ", "HPCNAME"),
        ("base", "/home/USERNAME/jobs", "USERNAME"),
    ],
)
def test_bare_upper_case_words_where_an_id_path_or_label_goes(
    key: str, text: str, marker: str
) -> None:
    assert find_bare_placeholder(text, key) == marker


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("StringEquals", "SUCCEEDED"),
        ("StringEquals", "FILE_NOT_FOUND"),
        ("StringEquals", "dir"),
        ("sync_level", "SYNC_CHECKSUM"),
        ("operation", "CREATE"),
        ("endpoint_id", "8F2C7A4E-1B3D-4C5E-9F6A-0B1C2D3E4F5A"),
        ("path", "/data/RUN_0001/EMPIAR/"),
        ("path", "/projects/CryoEM/"),
        ("label", "Copy to ARCHER2 for CRYOEM"),
        ("destination_path", "/~/"),
        ("ActionUrl", "https://transfer.actions.globus.org/transfer"),
    ],
)
def test_upper_case_real_values_are_not_placeholders(key: str, text: str) -> None:
    assert find_bare_placeholder(text, key) is None


def test_the_original_flowcron_template_leftovers_are_located() -> None:
    # The shape of FlowCron's first template, filled by sed with some values missed.
    paths = {
        "UploadedFilesLocation.=": "'FLOWCRON_BASE_PATH/UploadedFiles/' + _context.run_id + '/'",
        "TransferToHPCNAMELabel.=": "'Transferring to HPCNAME, flow run ' + _context.run_id",
    }
    upload = action(
        ActionUrl="https://transfer.actions.globus.org/mkdir",
        Parameters={
            "endpoint_id": "SOURCE_ENDPOINT_UUID",
            "path.$": "$.paths.UploadedFilesLocation",
        },
    )
    definition = flow(
        ("PathStrings", pass_state(Parameters=paths, ResultPath="$.paths", End=DROP, Next="Mkdir")),
        ("Mkdir", upload),
    )
    findings = check(definition)
    assert located(findings) == {
        ("FG603", "$.States.PathStrings.Parameters['UploadedFilesLocation.=']"),
        ("FG603", "$.States.PathStrings.Parameters['TransferToHPCNAMELabel.=']"),
        ("FG601", "$.States.Mkdir.Parameters.endpoint_id"),
    }
    # A word where a UUID goes is an error; in a path or label it may be a real name.
    assert {(f.code, f.severity.value) for f in findings} == {
        ("FG601", "error"),
        ("FG603", "warning"),
    }


def test_globus_constants_and_code_are_not_placeholders() -> None:
    stat = action(
        Parameters={"endpoint_id.$": "$.SOURCE_INFO.id", "path": "/data/in/"},
        ExceptionOnActionFailure=False,
        Catch=[{"ErrorEquals": ["ActionFailedException"], "ResultPath": "$.e", "Next": "Why"}],
        End=DROP,
        Next="Decide",
    )
    rules = [
        {"Variable": "$.Stat.status", "StringEquals": "SUCCEEDED", "Next": "Count"},
        {"Variable": "$.Stat.details.code", "StringEquals": "NotFound", "Next": "Why"},
    ]
    count = pass_state(
        Parameters={"n.=": "i<n and n>0", "DATA": [{"path": "/x/"}]}, ResultPath="$.count"
    )
    definition = flow(
        ("Stat", stat),
        ("Decide", {"Type": "Choice", "Choices": rules, "Default": "Why"}),
        ("Count", count),
        ("Why", {"Type": "Fail", "Error": "UPLOAD_FAILED", "Cause": "See FILE_NOT_FOUND in /x/"}),
    )
    assert check(definition) == []


def test_prose_may_describe_what_to_fill_in() -> None:
    definition = {
        "Comment": "Set <your collection id> in the input",
        "StartAt": "A",
        "States": {"A": pass_state(Comment="FLOWCRON_BASE_PATH/UploadedFiles/")},
    }
    assert check(definition) == []


def test_an_unparsed_expression_is_still_searched() -> None:
    definition = single(pass_state(Parameters={"p.=": "'<your path>' +"}, ResultPath="$.p"))
    assert {"FG302", "FG601"} <= codes(check(definition))


def test_the_notification_provider_fills_its_own_template() -> None:
    notify = action(
        ActionUrl="https://actions.globus.org/notification/notify",
        Parameters={
            "destination": "pi@example.org",
            "body_template": "Run ${RUN_ID} finished; {{ left_over }}",
            "body_variables": {"RUN_ID.$": "$._context.run_id"},
        },
    )
    findings = check(single(notify))
    assert located(findings) == {("FG601", "$.States.Only.Parameters.body_template")}
    assert "'{{ left_over }}'" in message(findings, "FG601")


def test_input_schema_defaults_are_values_of_their_property() -> None:
    schema = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "default": "HPC_COLLECTION"},
            "path": {"type": "string", "default": "/~/"},
            "mode": {"type": "string", "enum": ["FAST_COPY"], "default": "FAST_COPY"},
        },
    }
    assert located(validate_input_schema(schema)) == {("FG601", "$.properties.id.default")}


def test_a_real_upper_case_project_name_never_blocks_the_flowcron_build(tmp_path: Path) -> None:
    # flowgen init and hpc-agent setup accept these; build used to refuse them (FG601).
    from flowgen.flowcron.build import build_checked

    config = tmp_path / "CRYO_EM.toml"
    config.write_text(
        'name = "CRYO_EM"\nhpc_name = "UCL_MYRIAD"\n'
        'collection = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"\n'
        'base_path = "/bask/projects/CRYO_EM/flowcron"\n'
    )
    _, warnings = build_checked(config)
    assert {f.code for f in warnings} <= {"FG603"}

"""Loading a flow from a definition file, a build directory or a config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowgen.core.errors import InputFileError, UsageError
from flowgen.review.load import FlowDocs, load_flow_docs, looks_like_input_schema

DEFINITION = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
SCHEMA = {"type": "object", "properties": {"input": {"type": "object"}}}

CONFIG = """\
name = "testhpc"
hpc_name = "Test HPC"
collection = "8f2c7a4e-1b3d-4c5e-9f6a-0b1c2d3e4f5a"
base_path = "/project/flowcron"
"""


def _write(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_definition_file_alone_and_with_schema(tmp_path: Path) -> None:
    d = _write(tmp_path / "d.json", DEFINITION)
    s = _write(tmp_path / "s.json", SCHEMA)
    assert load_flow_docs(d) == FlowDocs(DEFINITION, None, str(d), "")
    assert load_flow_docs(d, s) == FlowDocs(DEFINITION, SCHEMA, str(d), str(s))


def test_build_directory_pairs_definition_and_schema(tmp_path: Path) -> None:
    _write(tmp_path / "FlowCron-x_definition.json", DEFINITION)
    _write(tmp_path / "FlowCron-x_input_schema.json", SCHEMA)
    docs = load_flow_docs(tmp_path)
    assert docs.definition == DEFINITION
    assert docs.input_schema == SCHEMA
    assert docs.schema_file.endswith("FlowCron-x_input_schema.json")


def test_build_directory_without_definition_says_what_to_give(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"no \*_definition\.json file"):
        load_flow_docs(tmp_path)


def test_malformed_json_names_line_and_column(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{\n  "StartAt": "A",\n  "States": {,}\n}\n', encoding="utf-8")
    with pytest.raises(InputFileError, match=r"bad\.json:3:14: malformed JSON"):
        load_flow_docs(bad)


def test_wrong_kind_of_document_is_explained(tmp_path: Path) -> None:
    s = _write(tmp_path / "s.json", SCHEMA)
    d = _write(tmp_path / "d.json", DEFINITION)
    arr = _write(tmp_path / "a.json", [1])
    with pytest.raises(UsageError, match="looks like an input schema"):
        load_flow_docs(s)
    with pytest.raises(UsageError, match="is a flow definition, not an input schema"):
        load_flow_docs(d, d)
    with pytest.raises(InputFileError, match="found a JSON array"):
        load_flow_docs(arr)


def test_looks_like_input_schema() -> None:
    assert looks_like_input_schema(SCHEMA)
    assert not looks_like_input_schema(DEFINITION)
    assert not looks_like_input_schema({"type": "object", "States": {}})
    assert not looks_like_input_schema([])


def test_config_is_built_in_memory(tmp_path: Path) -> None:
    pytest.importorskip("flowgen.flowcron.build")
    config = tmp_path / "testhpc.toml"
    config.write_text(CONFIG, encoding="utf-8")
    docs = load_flow_docs(config)
    assert "States" in docs.definition and docs.definition["StartAt"] in docs.definition["States"]
    assert docs.input_schema is not None and "properties" in docs.input_schema
    assert docs.definition_file == str(config)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        load_flow_docs(tmp_path / "nope.toml")

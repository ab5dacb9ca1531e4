"""Instance config: every field checked, errors name the field and the file."""

import sys
from pathlib import Path

import pytest

from flowgen.core.errors import ConfigError
from flowgen.flowcron.config import (
    config_from_dict,
    load_config,
    read_agent_instance_file,
    render_config,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

GOOD = {
    "name": "bask",
    "hpc_name": "Baskerville",
    "collection": "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
    "base_path": "/bask/projects/x/flowcron",
}


def test_defaults_and_round_trip(tmp_path: Path) -> None:
    cfg = config_from_dict(dict(GOOD))
    assert cfg.polling.initial_wait == 30 and cfg.polling.max_wait == 1800
    assert cfg.flow_title == "FlowCron-bask"
    path = tmp_path / "bask.toml"
    path.write_text(render_config(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": None}, "field 'name': missing"),
        ({"name": "has space"}, "field 'name': 'has space' contains ' '; use 1 to 64 letters"),
        ({"name": "x" * 65}, "field 'name': 'x{65}' is 65 characters long, more than 64"),
        ({"hpc_name": ""}, "field 'hpc_name'"),
        ({"collection": "not-a-uuid"}, "field 'collection': must be a collection UUID"),
        ({"base_path": "relative/path"}, "field 'base_path': must be an absolute path"),
        ({"base_path": "/x/"}, "must not end with '/'"),
        ({"base_path": "/x/../y"}, "without '.', '..'"),
        ({"base_path": 5}, "must be a string"),
        ({"polling": {"initial_wait": 0}}, "field 'polling.initial_wait'"),
        ({"polling": {"growth": "fast"}}, "field 'polling.growth'"),
        ({"polling": {"growth": 0.5}}, "field 'polling': growth"),
        ({"polling": {"max_wait": 10}}, "max_wait"),
        (
            {"polling": {"max_wait": 3600, "deadline": 600}},
            r"field 'polling.deadline': must be at least polling.max_wait \(3600 seconds\), "
            "got 600",
        ),
        ({"polling": {"speed": 1}}, "field 'polling.speed': unknown"),
        ({"transfer": {"wait_time": -1}}, "field 'transfer.wait_time'"),
        ({"colour": "blue"}, "field 'colour': unknown"),
        ({"polling": 3}, "must be a table"),
    ],
)
def test_bad_fields_are_named(change: dict, message: str) -> None:
    raw = {**GOOD, **change}
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ConfigError, match=message) as info:
        config_from_dict(raw, source="flows/bask.toml")
    assert info.value.message.startswith("flows/bask.toml: field")


def test_file_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "missing.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("name = \n")
    with pytest.raises(ConfigError, match=r"broken.toml: not valid TOML.*line 1"):
        load_config(broken)


def test_agent_instance_file(tmp_path: Path) -> None:
    path = tmp_path / "flowcron-instance.toml"
    path.write_text('name = "bask"\nbase_path = "/bask/x"\n')
    assert read_agent_instance_file(path) == {"name": "bask", "base_path": "/bask/x"}
    path.write_text('name = "bask"\n')
    with pytest.raises(ConfigError, match="field 'base_path': missing"):
        read_agent_instance_file(path)


@pytest.mark.parametrize(
    "description",
    [
        "Drop a folder.\nThe flow runs it on the HPC.\n",
        'Say "hi" with a back\\slash and a\ttab',
        "Windows line\r\nends, a bell \x07 and a DEL \x7f",
    ],
)
def test_init_writes_any_description_as_toml_that_reads_back_the_same(
    tmp_path: Path, description: str
) -> None:
    cfg = config_from_dict({**GOOD, "deploy": {"description": description, "subtitle": 'a "b"'}})
    path = tmp_path / "bask.toml"
    path.write_text(render_config(cfg), encoding="utf-8")
    with path.open("rb") as handle:
        parsed = tomllib.load(handle)
    assert parsed["deploy"]["description"] == description
    assert parsed["deploy"]["subtitle"] == 'a "b"'
    assert load_config(path) == cfg

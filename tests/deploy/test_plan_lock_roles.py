"""The pieces under deploy: roles, the plan's update arguments, the lock, the [deploy] table."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowgen.core.errors import ConfigError, InputFileError
from flowgen.deploy.lockfile import Lock, read_lock, write_lock
from flowgen.deploy.plan import DesiredFlow, make_plan
from flowgen.deploy.roles import normalise, parse_role_list
from flowgen.flowcron.config import config_from_dict, load_config, render_config

from .helpers import CONFIG, GROUP, GROUP_URN

BASE = {"name": "x", "hpc_name": "X", "collection": GROUP, "base_path": "/p"}


@pytest.mark.parametrize(
    ("entry", "urn"),
    [
        (f"group:{GROUP.upper()}", GROUP_URN),
        (f" identity:{GROUP} ", f"urn:globus:auth:identity:{GROUP}"),
        (GROUP_URN, GROUP_URN),
        ("all_authenticated_users", "all_authenticated_users"),
    ],
)
def test_short_forms_become_urns(entry: str, urn: str) -> None:
    assert normalise(entry) == urn


def test_a_bad_entry_names_its_source_and_position() -> None:
    with pytest.raises(ConfigError, match=r"deploy.starters\[1\] \('grp:x'\)"):
        parse_role_list([f"group:{GROUP}", "grp:x"], "flow_starters", source="deploy.starters")


def test_plan_update_kwargs_hold_only_the_differences() -> None:
    definition = {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}
    desired = DesiredFlow(
        "T", definition, {"type": "object"}, roles={"flow_starters": (GROUP_URN,)}
    )
    deployed = {
        "id": "f",
        "title": "T",
        "definition": definition,
        "input_schema": {"type": "object", "required": []},
        "flow_starters": [GROUP_URN],
    }
    plan = make_plan(desired, deployed)
    assert plan.update_kwargs() == {"input_schema": {"type": "object"}}
    assert not plan.is_empty
    assert make_plan(desired, {**deployed, "input_schema": {"type": "object"}}).is_empty


def test_default_subscription_is_satisfied_by_any_subscription() -> None:
    desired = DesiredFlow("T", {}, {}, subscription_id="DEFAULT")
    assert make_plan(desired, {"id": "f", "title": "T", "subscription_id": GROUP}).is_empty
    changed = make_plan(desired, {"id": "f", "title": "T", "subscription_id": None})
    assert changed.update_kwargs() == {"subscription_id": "DEFAULT"}


def test_lock_round_trips_and_a_damaged_lock_says_what_to_do(tmp_path: Path) -> None:
    lock = Lock("f", "production", "T", "a", "b", {"flow_starters": [GROUP_URN]}, "now")
    path = tmp_path / "x.lock.json"
    write_lock(path, lock)
    assert read_lock(path) == lock
    assert read_lock(tmp_path / "missing.lock.json") is None
    path.write_text('{"version": 1}')
    with pytest.raises(InputFileError, match="restore it from version control"):
        read_lock(path)


def test_deploy_table_round_trips_through_render_config(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(CONFIG)
    cfg = load_config(path)
    assert cfg.deploy.starters == (f"group:{GROUP}",)
    path.write_text(render_config(cfg))
    assert load_config(path) == cfg


@pytest.mark.parametrize(
    ("deploy", "field"),
    [
        ({"starter": []}, "deploy.starter"),
        ({"keywords": "hpc"}, "deploy.keywords"),
        ({"subscription_id": "nope"}, "deploy.subscription_id"),
        ({"subtitle": "x" * 129}, "deploy.subtitle"),
    ],
)
def test_bad_deploy_fields_are_named(deploy: dict[str, object], field: str) -> None:
    with pytest.raises(ConfigError, match=f"field '{field}'"):
        config_from_dict({**BASE, "deploy": deploy})


def test_a_config_without_deploy_renders_as_before() -> None:
    assert "[deploy]" not in render_config(config_from_dict(BASE))

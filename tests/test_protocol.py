"""The shared protocol: naming rules both halves rely on."""

import doctest
import re
from pathlib import Path

import pytest

from hpc_agent import protocol


def test_job_dir_name_appends_run_id_and_is_recognised() -> None:
    run_id = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
    name = protocol.job_dir_name("sample", run_id)
    assert name == f"sample_{run_id}"
    assert protocol.run_id_of(name) == run_id
    assert protocol.run_id_of("sample") is None
    assert protocol.run_id_of("sample_20260101T000000") is None


def test_shorten_label_keeps_both_ends_of_long_names() -> None:
    assert protocol.shorten_label("x" * 30) == "x" * 30
    long = "abcdefghijklm" + "MIDDLE" + "nopqrstuvwxyz"
    assert protocol.shorten_label(long) == "abcdefghijklm...nopqrstuvwxyz"


def test_finished_only_when_sentinels_gone() -> None:
    assert not protocol.is_finished({"data", "scripts", "sentinels"})
    assert protocol.is_finished({"data", "scripts"})


def test_the_doctests_in_the_protocol_module_hold() -> None:
    # `pytest tests/` alone does not collect the source's doctests (only the
    # configured testpaths include hpc_agent/), so check the shared module here too.
    results = doctest.testmod(protocol)
    assert results.attempted >= 7, "the protocol's examples were not found"
    assert results.failed == 0


VALID_NAMES = ["cryo.em-lab", "p42", "a", "A1", "lab_2.v3", "x" * 64, "lab-", "console", "con-lab"]


@pytest.mark.parametrize("name", VALID_NAMES)
def test_valid_instance_names(name: str) -> None:
    assert protocol.instance_name_problem(name) is None
    assert re.fullmatch(protocol.INSTANCE_NAME_PATTERN, name)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "is empty"),
        ("cryo em", "contains ' '"),
        ("a/b", "contains '/'"),
        ("lab\n", "contains '\\n'"),
        ("café", "contains 'é'"),
        ("-lab", "starts with '-'"),
        (".lab", "starts with '.'"),
        ("lab.", "ends with '.'"),
        ("x" * 65, "is 65 characters long, more than 64"),
        ("NUL", "is a device name on Windows, where flows/NUL.toml cannot exist"),
        ("com1.lab", "starts with 'com1', a device name on Windows"),
    ],
)
def test_invalid_instance_names_say_why_and_what_to_use(name: str, reason: str) -> None:
    problem = protocol.instance_name_problem(name)
    assert problem is not None
    assert problem.startswith(reason)
    assert problem.endswith(
        "; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit "
        "and not ending with '.' (e.g. cryo.em-lab)"
    )


@pytest.mark.parametrize(
    "name", [*VALID_NAMES, "cryo em", "lab.", "x" * 33, "x" * 41, "x" * 64, "x" * 65, "nul", "-x"]
)
def test_both_halves_accept_exactly_the_same_names(name: str, tmp_path: Path) -> None:
    """The bug this rule fixes: setup accepted names that flowgen init then refused."""
    from flowgen.core.errors import ConfigError as FlowgenConfigError
    from flowgen.flowcron.config import config_from_dict
    from hpc_agent.config import ConfigError as AgentConfigError
    from hpc_agent.config import InstanceConfig

    try:
        InstanceConfig(name=name, base_dir=tmp_path)
        agent_accepts = True
    except AgentConfigError:
        agent_accepts = False
    flow = {
        "name": name,
        "hpc_name": "Baskerville",
        "collection": "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11",
        "base_path": "/bask/x",
    }
    try:
        config_from_dict(flow)
        flowgen_accepts = True
    except FlowgenConfigError:
        flowgen_accepts = False
    assert agent_accepts == flowgen_accepts == (protocol.instance_name_problem(name) is None)

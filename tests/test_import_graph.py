"""The instant commands keep heavy modules out of their import graph (issue 13).

Each command runs in a fresh interpreter, in process (its ``main``), and the
modules it loaded are listed from ``sys.modules``. ``flowgen --help``,
``flowgen build`` and ``flowgen validate`` must not load rich (typer's rich
help), globus_sdk (online commands only), deepdiff or simpleeval (the
simulator); jsonschema only where a definition or a schema is checked against
a JSON Schema (build validates the flow it writes, validate checks files).
``hpc-agent --help`` loads only the parsers, and ``hpc-agent status`` none of
the admission, function, tick or doctor code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "flows" / "example.toml"
BUILT = REPO / "flows" / "build" / "example"

ALWAYS_HEAVY = ("rich", "globus_sdk", "deepdiff", "simpleeval", "markdown_it", "pygments")
"""Never needed by an offline command that starts instantly."""

AGENT_LOGIC = (
    "hpc_agent.functions.admin",
    "hpc_agent.uow.admission",
    "hpc_agent.loop.tick",
    "hpc_agent.site.doctor",
    "hpc_agent.usage.figures",
    "hpc_agent.executors.local",
)
"""What the agent's commands import only when they run (not for --help or status)."""

PROBE = """
import json, sys
sys.argv = [{prog!r}, *{args!r}]
if {prog!r} == "flowgen":
    from flowgen.cli import main
else:
    from hpc_agent.cli import main
try:
    main()
except SystemExit:
    pass
print("\\n" + json.dumps(sorted(sys.modules)))
"""


def loaded(prog: str, *args: str, env: dict[str, str] | None = None) -> set[str]:
    """Every module ``prog args`` has loaded when it is done."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(prog=prog, args=list(args))],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str], names: tuple[str, ...]) -> list[str]:
    """The ``names`` (packages or modules) present in ``modules``."""
    return sorted(
        name for name in names if any(m == name or m.startswith(name + ".") for m in modules)
    )


def test_flowgen_help_loads_no_heavy_module() -> None:
    modules = loaded("flowgen", "--help")
    assert heavy(modules, (*ALWAYS_HEAVY, "jsonschema")) == []


def test_flowgen_build_loads_only_what_it_uses(tmp_path: Path) -> None:
    modules = loaded("flowgen", "build", str(CONFIG), "-o", str(tmp_path))
    assert (tmp_path / "FlowCron-example_definition.json").is_file()
    assert heavy(modules, ALWAYS_HEAVY) == []


@pytest.mark.parametrize(
    "args",
    [
        [str(CONFIG)],
        [
            str(BUILT / "FlowCron-example_definition.json"),
            "--input-schema",
            str(BUILT / "FlowCron-example_input_schema.json"),
        ],
    ],
    ids=["config", "files"],
)
def test_flowgen_validate_loads_only_what_it_uses(args: list[str]) -> None:
    assert heavy(loaded("flowgen", "validate", *args), ALWAYS_HEAVY) == []


def test_hpc_agent_help_loads_only_the_parsers() -> None:
    modules = loaded("hpc-agent", "--help")
    assert heavy(modules, (*ALWAYS_HEAVY, "jsonschema", *AGENT_LOGIC, "hpc_agent.config")) == []
    assert "hpc_agent.executors.slurm" not in modules


def test_hpc_agent_status_loads_no_command_logic(tmp_path: Path) -> None:
    from hpc_agent import protocol
    from hpc_agent.config import InstanceConfig, save_instance

    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "XDG_CONFIG_HOME"} | {"HOME": str(home)}
    base = (tmp_path / "instance").resolve()
    base.mkdir()
    cfg = InstanceConfig(
        name="graph", base_dir=base, account=None, qos=None, executor="slurm", schedule="none"
    )
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True)
    save_instance(cfg)
    modules = loaded("hpc-agent", "status", str(base), env=env)
    assert heavy(modules, (*ALWAYS_HEAVY, "jsonschema", *AGENT_LOGIC)) == []

"""The FlowCron loop on one machine, for the end-to-end tests.

A :class:`Loop` is a "laptop" collection directory, an HPC collection
directory holding a real agent instance, and the FlowCron flow built for that
instance; :meth:`Loop.run` starts one flow run in the simulator while the
agent ticks (:class:`flowgen.simulate.agent.AgentDriver`), exactly as
``flowgen simulate --hpc-agent`` does.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowgen.flowcron import build
from flowgen.flowcron.build import BuiltFlow
from flowgen.flowcron.config import config_from_dict
from flowgen.simulate import Collection, RunResult, simulate
from flowgen.simulate.agent import AgentDriver, AgentEvent, create_instance
from hpc_agent import protocol
from hpc_agent.config import InstanceConfig

LAPTOP = "7c2b4f1e-3d6a-4e58-9b0c-1a2d3e4f5a6b"
HPC = "5e1d7a3c-0b8f-4d2a-9c61-3f0e2b7d4a10"
BASE_PATH = "/project/flowcron"
"""The instance's base path as the HPC collection sees it."""

TEST_POLLING = {"initial_wait": 30, "growth": 1.5, "max_wait": 900, "deadline": 2 * 86400}
"""Short polling for tests: the deadline is 2 days of flow time, not 7."""

GOOD_SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --ntasks=1\n"
    "#SBATCH --mem=50M\n"
    "mkdir -p results\n"
    "tr a-z A-Z < data/input.txt > results/output.txt\n"
    'echo "analysed $(wc -l < data/input.txt) line(s)"\n'
)

FAILING_SCRIPT = (
    "#!/bin/bash\n"
    "#SBATCH --time=00:01:00\n"
    "#SBATCH --ntasks=1\n"
    "#SBATCH --mem=50M\n"
    "echo 'reading the data'\n"
    "echo 'error: data/missing.csv not found' >&2\n"
    "exit 3\n"
)


def sleeping_script(seconds: int, time_limit: str = "00:05:00") -> str:
    """A job that sleeps; for cancellation, time limits and agents that never finish."""
    return (
        "#!/bin/bash\n"
        f"#SBATCH --time={time_limit}\n"
        "#SBATCH --ntasks=1\n"
        "#SBATCH --mem=50M\n"
        f"sleep {seconds}\n"
        "echo done > results.txt\n"
    )


def make_uow(parent: Path, name: str = "sample", *, script: str | None = GOOD_SCRIPT) -> Path:
    """A Unit of Work on the laptop: ``data/input.txt`` and (unless None) its job script."""
    uow = parent / name
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "data" / "input.txt").write_text(f"hello from {name}\nsecond line\n")
    if script is not None:
        (uow / "scripts" / protocol.SUBMISSION_SCRIPT).write_text(script)
    return uow


@dataclass
class Loop:
    """A laptop, an HPC collection with an agent instance, and the flow for it."""

    laptop: Path
    hpc_root: Path
    agent: InstanceConfig
    built: BuiltFlow
    drivers: list[AgentDriver] = field(default_factory=list)

    @classmethod
    def create(
        cls, root: Path, *, executor: str, polling: dict[str, Any] | None = None, **agent: Any
    ) -> Loop:
        """Everything under ``root``; ``agent`` are agent instance settings (account, qos...)."""
        laptop, hpc_root = root / "laptop", root / "hpc"
        laptop.mkdir(parents=True)
        name = "e2e" + uuid.uuid4().hex[:8]
        cfg = create_instance(hpc_root / BASE_PATH.lstrip("/"), name, executor=executor, **agent)
        flow_cfg = config_from_dict(
            {
                "name": name,
                "hpc_name": "Test HPC",
                "collection": HPC,
                "base_path": BASE_PATH,
                "polling": polling or TEST_POLLING,
            }
        )
        return cls(laptop, hpc_root, cfg, build(flow_cfg))

    def run(
        self,
        source: str = "/sample/",
        *,
        delete: bool = False,
        laptop: Collection | None = None,
        context: dict[str, Any] | None = None,
        definition: dict[str, Any] | None = None,
        **driver: Any,
    ) -> tuple[RunResult, AgentDriver]:
        """One flow run with the agent ticking; ``driver`` are AgentDriver settings.

        ``context`` sets ``$._context`` keys (``username``...); ``definition``
        runs another flow than the built one (same input schema).
        """
        agent = AgentDriver(self.agent, **driver)
        self.drivers.append(agent)
        run_input: dict[str, Any] = {"input": {"source": {"id": LAPTOP, "path": source}}}
        if delete:
            run_input["input"]["delete"] = True
        result = simulate(
            definition or self.built.definition,
            run_input,
            input_schema=self.built.input_schema,
            collections={LAPTOP: laptop or self.laptop, HPC: self.hpc_root},
            hooks=[agent.hook()],
            context={"run_id": str(uuid.uuid4()), **(context or {})},
        )
        return result, agent

    def job_dir(self, result: RunResult, folder: str = "sample") -> str:
        """The UoW's name on the HPC: ``<folder>_<run id>``."""
        return protocol.job_dir_name(folder, result.run_id)

    def finished(self, directory: str) -> list[str]:
        """Names in ``AnalysedFiles/`` or ``FailedJobs/``."""
        return sorted(p.name for p in self.agent.path(directory).iterdir())


def report(uow: Path) -> dict[str, Any]:
    """The agent's JSON report, as it came back into the laptop folder."""
    data: dict[str, Any] = json.loads((uow / protocol.REPORT_JSON).read_text())
    return data


def kinds(events: list[AgentEvent]) -> list[str]:
    """The kinds of the agent's events, in order."""
    return [event.kind for event in events]


def slurm_outputs(uow: Path, suffix: str) -> list[Path]:
    """The Slurm output files (``slurm-<id>.out``/``.err``) in a folder."""
    return sorted(uow.glob(f"slurm-*.{suffix}"))

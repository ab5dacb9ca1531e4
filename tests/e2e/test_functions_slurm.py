"""UoWs that call a published function, end to end on real Slurm: the flow, the agent, jobs.

As in test_flowcron_slurm.py, every test gets its own laptop folder, HPC
collection and agent instance on the session's private Slurm cluster; the
flow runs in the simulator while the agent ticks (``flowgen simulate
--hpc-agent``). The instance publishes a small test function of its own
(tests/agent/function_helpers.py), not one of the built-in library.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.tick import TickResult, tick
from tests.agent.function_helpers import make_call_uow, publish, publish_broken

from .loop import Loop, kinds, make_uow, report, slurm_outputs

pytestmark = pytest.mark.slurm


def _loop(tmp_path: Path, slurm_env: Any, **agent: Any) -> Loop:
    loop = Loop.create(
        tmp_path, executor="slurm", account=slurm_env.account, qos=slurm_env.qos, **agent
    )
    functions = loop.agent.path(protocol.FUNCTIONS)
    publish(functions)
    publish_broken(functions)
    return loop


@pytest.fixture
def loop(tmp_path: Path, slurm_env: Any) -> Loop:
    return _loop(tmp_path, slurm_env)


def test_a_function_call_runs_and_its_results_come_back(loop: Loop) -> None:
    uow = make_call_uow(
        loop.laptop, params={"input": "input.txt", "repeat": 2, "label": "lines"}, sentinels=False
    )
    result, agent = loop.run()
    assert result.status == "SUCCEEDED", result.cause
    assert (uow / "results" / "lines.txt").read_text() == "3\n3\n"
    [out] = slurm_outputs(uow, "out")
    assert out.read_text() == "counted on the HPC: data/input.txt\n"
    rendered = (uow / protocol.RENDERED_SCRIPT).read_text()
    assert "repeat=2\n" in rendered and "#SBATCH --mem=50M\n" in rendered
    got = report(uow)
    assert got["state"] == "COMPLETED" and got["outcome"] == "succeeded"
    function = got["function"]
    assert (function["name"], function["version"]) == ("count-lines", "1.2.0")
    assert function["params"]["repeat"] == 2
    assert function["resources"]["memory"] == "50M"
    assert len(function["sha256"]) == 64
    text = (uow / protocol.REPORT_TEXT).read_text()
    assert "Function:        count-lines 1.2.0" in text
    assert kinds(agent.events)[:2] == ["admitted", "submitted"]


def test_parameter_errors_come_back_in_a_report_listing_each(loop: Loop) -> None:
    params = {"input": "missing.txt", "repeat": 9, "colour": "red", "mode": "lnes"}
    uow = make_call_uow(loop.laptop, params=params, sentinels=False)
    result, agent = loop.run()
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    got = report(uow)
    assert got["outcome"] == "rejected"
    problems = got["problems"]
    assert len(problems) == 4, problems
    for phrase in (
        "data/missing.txt does not exist",
        "9 is too large",
        "(did you mean 'lines'?)",
        "'colour' is not a parameter",
    ):
        assert sum(phrase in p for p in problems) == 1, (phrase, problems)
    text = (uow / protocol.REPORT_TEXT).read_text()
    assert "The Unit of Work was not run." in text and "9 is too large" in text
    assert "submitted" not in kinds(agent.events)
    assert not (uow / protocol.RENDERED_SCRIPT).exists()


def test_under_policy_functions_a_script_uow_is_refused_with_the_functions(
    tmp_path: Path, slurm_env: Any
) -> None:
    loop = _loop(tmp_path, slurm_env, run_policy="functions")
    uow = make_uow(loop.laptop)
    result, agent = loop.run()
    assert result.status == "FAILED"
    [problem] = report(uow)["problems"]
    assert "runs only its published functions" in problem
    assert "count-lines (Count the lines of a text file, a few times over)" in problem
    assert "submitted" not in kinds(agent.events)
    assert not (uow / "results").exists()


def test_a_broken_function_is_reported_and_another_uow_runs_in_the_same_tick(
    loop: Loop,
) -> None:
    uow = make_call_uow(loop.laptop, function="broken-fn", sentinels=False)
    uploaded = loop.agent.path(protocol.UPLOADED)
    other = uploaded / "other"
    results: list[TickResult] = []

    def runner(cfg: InstanceConfig) -> TickResult:
        # Once the flow's upload is complete, another run's upload arrives beside it,
        # so the same tick admits both.
        if not other.exists() and any(
            (p / protocol.SENTINELS_DIR).is_dir() for p in uploaded.iterdir()
        ):
            make_call_uow(uploaded, other.name)
        results.append(tick(cfg))
        return results[-1]

    result, _ = loop.run(runner=runner)
    assert result.status == "FAILED"
    broken = report(uow)
    assert broken["outcome"] == "rejected"
    assert "is broken on this instance" in broken["problems"][0]
    name = loop.job_dir(result)
    [first] = [r for r in results if r.rejected]
    assert first.rejected == [name] and list(first.submitted) == [other.name]
    events = list(read_events(loop.agent.path(protocol.LOGS)))
    [logged] = [e for e in events if e["event"] == "function-broken"]
    assert logged["function"] == "broken-fn" and logged["problems"]
    done = loop.agent.path(protocol.ANALYSED) / other.name
    assert (done / "results" / "count.txt").read_text() == "3\n"
    assert report(done)["function"]["name"] == "count-lines"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-v"]))

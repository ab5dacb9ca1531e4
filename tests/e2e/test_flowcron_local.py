"""FlowCron end to end on the embedded default: the agent's ``local`` executor, no Slurm.

The same loop as test_flowcron_slurm.py (flow in the simulator, the real
agent ticking, a real job), fast enough for every run of the suite.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flowgen.simulate.agent import AgentHoldTimeout
from hpc_agent import protocol
from hpc_agent.executors import make_executor

from .loop import FAILING_SCRIPT, Loop, kinds, make_uow, report, sleeping_script


@pytest.fixture
def loop(tmp_path: Path) -> Loop:
    return Loop.create(tmp_path, executor="local")


def test_results_come_back_into_the_source_folder(loop: Loop) -> None:
    uow = make_uow(loop.laptop)
    result, agent = loop.run()
    assert result.status == "SUCCEEDED", result.cause
    assert (uow / "results" / "output.txt").read_text() == "HELLO FROM SAMPLE\nSECOND LINE\n"
    assert (uow / "slurm-1.out").read_text() == "analysed 2 line(s)\n"
    assert report(uow)["outcome"] == "succeeded"
    assert not (uow / protocol.SENTINELS_DIR).exists()
    # The HPC copy is kept by default, under the run's own name.
    assert loop.finished(protocol.ANALYSED) == [loop.job_dir(result)]
    assert kinds(agent.events) == ["admitted", "submitted", "finished"]
    # Flow time stood still while the job ran: it noticed at its next check.
    assert result.stats.elapsed_seconds < 120


def test_delete_removes_the_hpc_copy(loop: Loop) -> None:
    uow = make_uow(loop.laptop)
    result, _ = loop.run(delete=True)
    assert result.status == "SUCCEEDED", result.cause
    assert (uow / "results" / "output.txt").is_file()
    assert loop.finished(protocol.ANALYSED) == []
    assert "was deleted" in result.output["FlowResult"]["message"]


def test_a_failing_job_returns_its_output_and_report(loop: Loop) -> None:
    uow = make_uow(loop.laptop, script=FAILING_SCRIPT)
    result, _ = loop.run()
    assert result.status == "FAILED"
    assert result.error == "JobFailed"
    assert protocol.REPORT_TEXT in str(result.cause)
    assert "not found" in (uow / "slurm-1.err").read_text()
    assert report(uow)["state"] == "FAILED"
    assert report(uow)["exit_code"] == "3:0"


def test_holding_flow_time_is_bounded_by_the_hold_limit(loop: Loop) -> None:
    make_uow(loop.laptop, script=sleeping_script(60))
    started = time.monotonic()
    with pytest.raises(AgentHoldTimeout) as caught:
        loop.run(hold_limit=1.5, hold_poll=0.2)
    assert time.monotonic() - started < 10
    message = caught.value.message
    assert "did not finish within" in message and "sample_" in message
    assert "--hold-limit" in message
    executor = make_executor(loop.agent)
    executor.cancel("1")

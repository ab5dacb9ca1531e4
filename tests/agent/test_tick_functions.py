"""The tick with UoWs that call a published function, against an in-memory executor."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import JobRecord, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.record import job_name
from hpc_agent.uow.report import render_text
from tests.agent.fakes import FakeExecutor
from tests.agent.function_helpers import make_call_uow, publish, publish_broken
from tests.agent.helpers import make_uow


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    publish(cfg.path(protocol.FUNCTIONS))
    publish_broken(cfg.path(protocol.FUNCTIONS))
    return cfg


def _report(cfg: InstanceConfig, where: str, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((cfg.path(where) / name / protocol.REPORT_JSON).read_text())
    return data


def _run_to_end(inst: InstanceConfig, fake: FakeExecutor, ticks: int = 3) -> None:
    for _ in range(ticks):
        for job_id in tick(inst, fake).submitted.values():
            fake.finish(job_id)


def test_a_call_is_rendered_into_the_uow_submitted_and_reported(inst: InstanceConfig) -> None:
    make_call_uow(inst.path(protocol.UPLOADED), "calc", params={"input": "input.txt", "repeat": 2})
    fake = FakeExecutor()
    first = tick(inst, fake)
    assert list(first.submitted) == ["calc"]
    running = inst.path(protocol.RUNNING) / "calc"
    rendered = (running / protocol.RENDERED_SCRIPT).read_text()
    assert fake.specs[0].script.read_text() == rendered, "what is submitted is what the UoW holds"
    assert "repeat=2\n" in rendered
    record = StateStore(inst.base_dir).load("calc")
    assert record is not None and record.function is not None
    assert record.function["name"] == "count-lines"
    [admitted] = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "admitted"]
    assert admitted["function"]["version"] == "1.2.0"

    fake.finish(first.submitted["calc"])
    _run_to_end(inst, fake)
    done = inst.path(protocol.ANALYSED) / "calc"
    assert (done / protocol.RENDERED_SCRIPT).read_text() == rendered
    got = _report(inst, protocol.ANALYSED, "calc")
    assert got["outcome"] == "succeeded"
    function = got["function"]
    assert (function["name"], function["version"]) == ("count-lines", "1.2.0")
    assert len(function["sha256"]) == 64
    assert function["params"] == {
        "input": "data/input.txt",
        "repeat": 2,
        "label": "count",
        "mode": "lines",
    }
    assert function["resources"] == {"time": "0:01:00", "cpus": 1, "memory": "50M"}
    text = (done / protocol.REPORT_TEXT).read_text()
    assert "Function:        count-lines 1.2.0" in text
    assert f"Function sha256: {function['sha256']}" in text
    # Records and reports are JSON with sorted keys: the values are shown by name.
    assert (
        'Parameters:      input = "data/input.txt", label = "count", mode = "lines", repeat = 2\n'
    ) in text
    assert "Resources:       cpus 1, memory 50M, time 0:01:00\n" in text
    assert not list(done.glob(".flowcron-job.sh.*")), "no temporary file comes back"


def test_a_script_uows_report_has_no_function_lines(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "plain")
    _run_to_end(inst, FakeExecutor())
    got = _report(inst, protocol.ANALYSED, "plain")
    assert got["function"] is None
    assert (
        "Function"
        not in (inst.path(protocol.ANALYSED) / "plain" / protocol.REPORT_TEXT).read_text()
    )
    assert not (inst.path(protocol.ANALYSED) / "plain" / protocol.RENDERED_SCRIPT).exists()


def test_a_broken_function_is_logged_once_and_stops_no_other_uow(inst: InstanceConfig) -> None:
    uploaded = inst.path(protocol.UPLOADED)
    make_call_uow(uploaded, "a-broken", function="broken-fn")
    make_call_uow(uploaded, "b-broken", function="broken-fn")
    make_call_uow(uploaded, "c-good")
    make_uow(uploaded, "d-script")
    fake = FakeExecutor()
    result = tick(inst, fake)
    assert sorted(result.submitted) == ["c-good", "d-script"]
    assert sorted(result.rejected) == ["a-broken", "b-broken"]
    assert result.exit_code == 0
    events = list(read_events(inst.path(protocol.LOGS)))
    [broken] = [e for e in events if e["event"] == "function-broken"]
    assert broken["level"] == "error" and broken["function"] == "broken-fn"
    assert any("type 'integer'" in p for p in broken["problems"])
    for job_id in result.submitted.values():
        fake.finish(job_id)
    _run_to_end(inst, fake)
    refused = _report(inst, protocol.FAILED, "b-broken")
    assert refused["outcome"] == "rejected"
    assert "is broken on this instance" in refused["problems"][0]
    assert refused["function"] == {"name": "broken-fn"}
    assert _report(inst, protocol.ANALYSED, "c-good")["outcome"] == "succeeded"
    # The next tick with another call logs it again (once per tick).
    make_call_uow(uploaded, "e-broken", function="broken-fn")
    tick(inst, fake)
    events = list(read_events(inst.path(protocol.LOGS)))
    assert len([e for e in events if e["event"] == "function-broken"]) == 2


def test_under_policy_functions_a_script_uow_comes_back_with_the_list(
    inst: InstanceConfig,
) -> None:
    only = replace(inst, run_policy="functions")
    make_uow(only.path(protocol.UPLOADED), "mine")
    fake = FakeExecutor()
    _run_to_end(only, fake)
    assert fake.specs == []
    [problem] = _report(only, protocol.FAILED, "mine")["problems"]
    assert "runs only its published functions" in problem and "count-lines (" in problem


def test_a_lost_state_script_is_rendered_again(inst: InstanceConfig) -> None:
    # Admitted, then the copy in CodeToRun/.state/scripts/ was lost (a crash).
    uow = make_call_uow(inst.path(protocol.RUNNING), "calc")
    store = StateStore(inst.base_dir)
    store.ensure()
    store.save(
        JobRecord(uow="calc", source="calc", admitted_at=1.0, job_name=job_name(inst.name, "calc"))
    )
    fake = FakeExecutor()
    assert list(tick(inst, fake).submitted) == ["calc"]
    rendered = (uow / protocol.RENDERED_SCRIPT).read_text()
    assert fake.specs[0].script.read_text() == rendered
    record = store.load("calc")
    assert record is not None and record.function is not None
    assert record.function["name"] == "count-lines"


def test_an_older_record_without_function_still_loads(inst: InstanceConfig) -> None:
    store = StateStore(inst.base_dir)
    store.ensure()
    old = json.loads(JobRecord(uow="old").to_json())
    del old["function"]
    store.record_path("old").write_text(json.dumps(old))
    record = store.load("old")
    assert record is not None and record.function is None


def test_the_text_report_of_a_call(tmp_path: Path) -> None:
    text = render_text(
        {
            "outcome": "failed",
            "uow": "u",
            "script_sha256": "ab",
            "function": {
                "name": "f",
                "version": "2.0",
                "sha256": "cd",
                "params": {"s": "it's", "n": 1, "b": True},
                "resources": {"time": "1:00:00", "extra": ["--constraint=a100"]},
            },
        }
    )
    assert "Function:        f 2.0\n" in text
    assert 'Parameters:      s = "it\'s", n = 1, b = true\n' in text
    assert "Resources:       time 1:00:00, extra --constraint=a100\n" in text
    assert "Unit of Work:    u\n" in text


def _back_again(inst: InstanceConfig, name: str, new: str) -> Path:
    """The folder that came back, uploaded again (as a new run) with sentinels/."""
    done = inst.path(protocol.ANALYSED) / name
    again = inst.path(protocol.UPLOADED) / new
    done.rename(again)
    (again / protocol.SENTINELS_DIR).mkdir()
    return again


def test_a_call_run_again_archives_the_earlier_rendered_script(inst: InstanceConfig) -> None:
    make_call_uow(inst.path(protocol.UPLOADED), "first", params={"input": "input.txt"})
    fake = FakeExecutor()
    _run_to_end(inst, fake)
    earlier = (inst.path(protocol.ANALYSED) / "first" / protocol.RENDERED_SCRIPT).read_text()
    again = _back_again(inst, "first", "second")
    job = again / protocol.JOB_FILE
    job.write_text(job.read_text() + "repeat = 3\n")
    _run_to_end(inst, fake)
    done = inst.path(protocol.ANALYSED) / "second"
    archive = done / protocol.EARLIER_RUNS_DIR / "first"
    assert (archive / protocol.RENDERED_SCRIPT).read_text() == earlier
    assert (archive / protocol.REPORT_JSON).is_file()
    assert "repeat=3\n" in (done / protocol.RENDERED_SCRIPT).read_text()
    assert _report(inst, protocol.ANALYSED, "second")["problems"] == []
    assert not list(done.rglob("*.user"))


def test_the_same_call_run_again_keeps_its_identical_script(inst: InstanceConfig) -> None:
    make_call_uow(inst.path(protocol.UPLOADED), "first")
    fake = FakeExecutor()
    _run_to_end(inst, fake)
    script = (inst.path(protocol.ANALYSED) / "first" / protocol.RENDERED_SCRIPT).read_bytes()
    _back_again(inst, "first", "second")
    _run_to_end(inst, fake)
    done = inst.path(protocol.ANALYSED) / "second"
    assert (done / protocol.RENDERED_SCRIPT).read_bytes() == script
    archive = done / protocol.EARLIER_RUNS_DIR / "first"
    assert sorted(p.name for p in archive.iterdir()) == [
        protocol.REPORT_TEXT,
        protocol.REPORT_JSON,
    ]


def test_only_a_script_flowcron_rendered_counts_as_an_earlier_runs(tmp_path: Path) -> None:
    from hpc_agent.uow.rerun import find_earlier_outputs

    folder = tmp_path / "u"
    folder.mkdir()
    (folder / protocol.RENDERED_SCRIPT).write_text("#!/bin/bash\necho mine\n")
    assert find_earlier_outputs(folder) is None
    (folder / protocol.RENDERED_SCRIPT).write_text(
        "#!/bin/bash\n#SBATCH --time=1\n"
        "# FlowCron function f 1.0 (sha256 0123456789abcdef), rendered by the agent.\n"
    )
    found = find_earlier_outputs(folder)
    assert found is not None and found.entries == (protocol.RENDERED_SCRIPT,)

"""The operating commands through the real ``hpc-agent`` command line."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.tick import tick
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    return cfg


def test_status_json_and_retry_from_the_command_line(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    make_uow(inst.path(protocol.UPLOADED), "s")
    fake = FakeExecutor()
    fake.finish(tick(inst, fake).submitted["s"], "FAILED", "2:0")
    tick(inst, fake)
    capsys.readouterr()

    assert main(["status", str(inst.base_dir), "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [item["uow"] for item in status["failed"]] == ["s"]

    assert main(["retry", str(inst.base_dir), "s"]) == 0
    assert "submitted again by the next tick" in capsys.readouterr().out
    assert (inst.path(protocol.UPLOADED) / "s" / protocol.SENTINELS_DIR).is_dir()

    assert main(["retry", str(inst.base_dir), "s"]) == 1
    assert "no UoW named 's' in FailedJobs/" in capsys.readouterr().err


def test_unknown_instance_is_a_usage_error(
    tmp_path: object, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "/nonexistent/instance"]) == 2
    assert "not a FlowCron instance" in capsys.readouterr().err


def test_run_survives_a_tick_that_raises_and_logs_it(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpc_agent.loop.tick
    from hpc_agent.loop.eventlog import read_events

    real_tick = hpc_agent.loop.tick.tick
    calls: list[int] = []

    def flaky_tick(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 1:  # the file system hiccups once, then recovers
            raise OSError(5, "Input/output error", "/nfs/project/UploadedFiles")
        return real_tick(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(hpc_agent.loop.tick, "tick", flaky_tick)
    local = dataclasses.replace(inst, executor="local")
    save_instance(local)
    make_uow(inst.path(protocol.UPLOADED), "s")

    code = main(["run", str(inst.base_dir), "--every", "1", "--max-ticks", "2"])

    assert code == 0
    assert len(calls) == 2
    err = capsys.readouterr().err
    assert "tick failed (OSError" in err and "Traceback" not in err
    crashed = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "tick-crashed"]
    assert len(crashed) == 1 and crashed[0]["level"] == "error"
    assert "Input/output error" in crashed[0]["message"]
    # The second tick ran for real and submitted the waiting UoW.
    assert (inst.path(protocol.RUNNING) / "s").is_dir()


def test_cancel_says_what_happened(
    inst: InstanceConfig, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpc_agent.cli.ops

    fake = FakeExecutor()
    monkeypatch.setattr(hpc_agent.cli.ops, "_executor", lambda cfg: fake)
    for name in ("running", "done"):
        make_uow(inst.path(protocol.UPLOADED), name)
    jobs = tick(inst, fake).submitted
    fake.finish(jobs["done"])  # it ended before the cancel arrived
    capsys.readouterr()

    assert main(["cancel", str(inst.base_dir), "running"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"running: handed back, now in {protocol.FAILED}/running (see its report for the outcome)"
    )
    assert main(["cancel", str(inst.base_dir), "done"]) == 0
    assert "had already finished successfully" in capsys.readouterr().out

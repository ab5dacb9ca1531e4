"""The operating commands through the real ``hpc-agent`` command line."""

from __future__ import annotations

import json

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.tick import tick
from tests.agent.conftest import make_uow
from tests.agent.fakes import FakeExecutor


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

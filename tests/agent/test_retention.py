"""Retention counts from when the agent put an item somewhere, not from mtimes."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import Ledger, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.finalize import Agent
from hpc_agent.uow.retention import DAY, apply_retention, prune_logs
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow
from tests.agent.plain_user import SKIP_REASON, plain_prefix, run_plain

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return dataclasses.replace(cfg, soft_delete_days=2, hard_delete_days=3)


def finished_uow(cfg: InstanceConfig, now: float, name: str = "old") -> Path:
    make_uow(cfg.path(protocol.UPLOADED), name)
    fake = FakeExecutor()
    fake.finish(tick(cfg, fake, now=now).submitted[name])
    tick(cfg, fake, now=now)
    done = cfg.path(protocol.ANALYSED) / name
    # Transfers preserve mtimes: make the files look ancient; it must not matter.
    os.utime(done, (0, 0))
    return done


def run(cfg: InstanceConfig, now: float) -> None:
    agent = Agent.open(cfg, now=now)
    apply_retention(agent)
    agent.ledger.save()


def test_soft_then_hard_delete_by_recorded_time(inst: InstanceConfig) -> None:
    finished_uow(inst, T0)
    run(inst, T0 + 1 * DAY)
    assert (inst.path(protocol.ANALYSED) / "old").is_dir()  # old mtime is ignored
    run(inst, T0 + 2 * DAY + 1)
    assert not (inst.path(protocol.ANALYSED) / "old").exists()
    assert (inst.path(protocol.RECYCLING_BIN) / "old" / protocol.REPORT_JSON).is_file()
    run(inst, T0 + 4 * DAY)
    assert (inst.path(protocol.RECYCLING_BIN) / "old").is_dir()  # 3 days in the bin not yet
    run(inst, T0 + 5 * DAY + 2)
    assert not (inst.path(protocol.RECYCLING_BIN) / "old").exists()
    assert Ledger(StateStore(inst.base_dir).root).load().entries == {}


def test_zero_days_disables_deletion(inst: InstanceConfig) -> None:
    keep = dataclasses.replace(inst, soft_delete_days=0, hard_delete_days=0)
    finished_uow(keep, T0)
    (keep.path(protocol.RECYCLING_BIN) / "binned").mkdir()
    run(keep, T0)
    run(keep, T0 + 1000 * DAY)
    assert (keep.path(protocol.ANALYSED) / "old").is_dir()
    assert (keep.path(protocol.RECYCLING_BIN) / "binned").is_dir()


def test_unknown_items_start_their_clock_when_first_seen(inst: InstanceConfig) -> None:
    stray = inst.path(protocol.FAILED) / "put-here-by-hand"
    stray.mkdir()
    os.utime(stray, (0, 0))
    run(inst, T0)
    run(inst, T0 + 2 * DAY - 1)
    assert stray.is_dir()
    run(inst, T0 + 2 * DAY)
    assert (inst.path(protocol.RECYCLING_BIN) / "put-here-by-hand").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directories_left_by_a_job_are_still_deleted(inst: InstanceConfig) -> None:
    item = inst.path(protocol.RECYCLING_BIN) / "locked"
    (item / "sub").mkdir(parents=True)
    (item / "sub" / "f").write_text("x")
    (item / "sub").chmod(0o500)
    run(inst, T0)
    run(inst, T0 + 3 * DAY)
    assert not item.exists()


def test_old_logs_are_pruned(tmp_path: Path) -> None:
    for day in ("2025-12-20", "2025-12-25", "2025-12-31"):
        (tmp_path / f"flowcron-{day}.jsonl").write_text("{}\n")
    (tmp_path / "notes.txt").write_text("not ours")
    deleted = prune_logs(tmp_path, 7, T0)
    assert deleted == ["flowcron-2025-12-20.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "flowcron-2025-12-25.jsonl",
        "flowcron-2025-12-31.jsonl",
        "notes.txt",
    ]


def test_a_dot_named_uow_is_recycled_and_deleted_like_any_other(inst: InstanceConfig) -> None:
    finished_uow(inst, T0, ".hidden")
    run(inst, T0 + 2 * DAY + 1)
    assert not (inst.path(protocol.ANALYSED) / ".hidden").exists()
    assert (inst.path(protocol.RECYCLING_BIN) / ".hidden" / protocol.REPORT_JSON).is_file()
    run(inst, T0 + 5 * DAY + 2)
    assert not (inst.path(protocol.RECYCLING_BIN) / ".hidden").exists()
    assert Ledger(StateStore(inst.base_dir).root).load().entries == {}


def _outside_with_files(tmp_path: Path) -> Path:
    outside = tmp_path / "shared-data"
    (outside / "dataset").mkdir(parents=True)
    (outside / "dataset" / "raw.bin").write_text("irreplaceable")
    (outside / "notes.txt").write_text("mine")
    return outside


@pytest.mark.parametrize("where", [protocol.RECYCLING_BIN, protocol.ANALYSED, protocol.FAILED])
def test_a_symlinked_directory_never_starts_a_clock_on_files_outside(
    inst: InstanceConfig, tmp_path: Path, where: str
) -> None:
    outside = _outside_with_files(tmp_path)
    inst.path(where).rmdir()
    inst.path(where).symlink_to(outside)
    for day in (0, 3, 10, 100):
        agent = Agent.open(inst, now=T0 + day * DAY)
        result = apply_retention(agent)
        agent.ledger.save()
        assert result.refused and f"{where}/ is a symlink" in result.refused[0]
    assert (outside / "dataset" / "raw.bin").read_text() == "irreplaceable"
    assert sorted(p.name for p in outside.iterdir()) == ["dataset", "notes.txt"]
    assert Ledger(StateStore(inst.base_dir).root).load().entries == {}
    refused = [
        e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "retention-refused"
    ]
    assert len(refused) == 4


def test_files_a_job_left_beside_its_uow_are_quarantined_then_expire(
    inst: InstanceConfig,
) -> None:
    make_uow(inst.path(protocol.UPLOADED), "leaky")
    fake = FakeExecutor()
    job = tick(inst, fake, now=T0).submitted["leaky"]
    running = inst.path(protocol.RUNNING)
    (running / "leaked.txt").write_text("oops")  # the job wrote ../leaked.txt
    (running / "link").symlink_to("/etc")
    result = tick(inst, fake, now=T0 + 60)
    assert sorted(result.retention.quarantined) == ["leaked.txt", "link"]
    assert sorted(p.name for p in running.iterdir()) == ["leaky"]
    (folder,) = inst.path(protocol.FAILED).iterdir()
    assert folder.name == "flowcron-stray_20260101-000100"
    assert (folder / "leaked.txt").read_text() == "oops"
    assert (folder / "link").is_symlink()
    note = (folder / "FLOWCRON_STRAY.txt").read_text()
    assert "- leaked.txt: 4 bytes" in note and "CodeToRun/slurm/" in note
    assert f"leaky (job {job}, not handed back yet)" in note
    logged = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "stray-quarantined"]
    assert logged and logged[0]["files"] == ["leaked.txt", "link"]

    run(inst, T0 + 60 + 2 * DAY)  # soft_delete_days = 2
    assert (inst.path(protocol.RECYCLING_BIN) / folder.name / "leaked.txt").is_file()
    run(inst, T0 + 60 + 5 * DAY)  # hard_delete_days = 3
    assert not (inst.path(protocol.RECYCLING_BIN) / folder.name).exists()
    assert Path("/etc/hostname").exists()  # the quarantined link was removed, not followed


RETENTION_AT = """
import sys
from pathlib import Path
from hpc_agent.config import load_base
from hpc_agent.uow.finalize import Agent
from hpc_agent.uow.retention import apply_retention

agent = Agent.open(load_base(Path(sys.argv[1])), now=float(sys.argv[2]))
print(apply_retention(agent))
agent.ledger.save()
"""


@pytest.mark.skipif(plain_prefix() is None, reason=SKIP_REASON)
def test_read_only_directories_a_job_left_are_deleted_by_a_plain_user(
    inst: InstanceConfig,
) -> None:
    save_instance(dataclasses.replace(inst, executor="local", schedule="none"))
    item = inst.path(protocol.RECYCLING_BIN) / "locked"
    (item / "sub" / "deeper").mkdir(parents=True)
    (item / "sub" / "deeper" / "f").write_text("x")
    (item / "sub" / "deeper").chmod(0o500)
    (item / "sub").chmod(0o500)
    for now in (T0, T0 + 3 * DAY):
        done = run_plain(["-c", RETENTION_AT, str(inst.base_dir), repr(now)])
        assert done.returncode == 0, done.stderr
    assert not item.exists()

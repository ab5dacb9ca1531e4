"""Nothing outside the instance is ever changed (issue 9), shown without Slurm.

Symlinked instance directories stop the tick; finalize never changes a mode
through a hard link or a symlink, at any depth; admission finds an outside
link below PATH_MAX. The real-job versions are in test_finalize_slurm.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.exitcodes import EXIT_FAILED
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import FINALIZING, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.admission import admit
from hpc_agent.uow.finalize import Agent, finalize
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import agent_cmd
from tests.agent.test_treewalk import deep_tree

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
DAY = 86400.0


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def snapshot(root: Path) -> dict[str, tuple[int, str]]:
    """Every entry under ``root``: its mode and its content (or link target)."""
    found: dict[str, tuple[int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            info = path.lstat()
            if path.is_symlink():
                content = f"-> {path.readlink()}"
            elif path.is_file():
                content = path.read_text(errors="replace")
            else:
                content = ""
            found[str(path.relative_to(root))] = (stat.S_IMODE(info.st_mode), content)
    return found


def running_job(cfg: InstanceConfig, fake: FakeExecutor, name: str = "sample") -> Path:
    """Upload ``name``, tick it into Slurm, and return its directory in CodeToRun/slurm."""
    make_uow(cfg.path(protocol.UPLOADED), name)
    tick(cfg, fake, now=T0)
    return cfg.path(protocol.RUNNING) / name


def report_of(done: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((done / protocol.REPORT_JSON).read_text())
    return data


# -- a symlinked instance directory stops the tick -------------------------------


@pytest.mark.parametrize(
    "where",
    [
        protocol.RECYCLING_BIN,
        protocol.ANALYSED,
        protocol.FAILED,
        protocol.UPLOADED,
        protocol.CODE_TO_RUN,
        protocol.LOGS,
    ],
)
def test_a_symlinked_instance_directory_stops_the_tick_and_nothing_outside_changes(
    inst: InstanceConfig, tmp_path: Path, where: str
) -> None:
    fake = FakeExecutor()
    running_job(inst, fake, "old")
    fake.finish(fake.by_name["flowcron-proj-old"])
    tick(inst, fake, now=T0)  # "old" is handed back into AnalysedFiles/
    running_job(inst, fake, "busy")  # "busy" runs
    make_uow(inst.path(protocol.UPLOADED), "new")
    outside = tmp_path / "outside"
    shutil.move(str(inst.path(where)), str(outside))
    inst.path(where).symlink_to(outside)
    (outside / "precious").mkdir()
    (outside / "precious" / "thesis.tex").write_text("years of work")
    (outside / "precious" / "thesis.tex").chmod(0o600)
    before = snapshot(outside)

    later = FakeExecutor()
    for day in (0, 40, 400):  # well past soft and hard deletion
        result = tick(inst, later, now=T0 + day * DAY)
        assert result.exit_code == EXIT_FAILED
        assert f"{where}/ is a symlink" in result.message
    assert later.calls == []
    after = snapshot(outside)
    # Not even the lock, the lease or the heartbeat: the check comes first.
    assert after == before
    events = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "layout-refused"]
    if where == protocol.LOGS:
        assert events == []  # the line would have been written outside the instance
    else:
        assert events and f"{where}/ is a symlink" in events[-1]["message"]


def test_finalize_alone_refuses_a_symlinked_finished_directory(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    # ``hpc-agent finalize`` (the finalize-by-dependency job) does not run the tick's check.
    fake = FakeExecutor()
    running = running_job(inst, fake)
    outside = tmp_path / "outside"
    inst.path(protocol.ANALYSED).rename(outside)
    inst.path(protocol.ANALYSED).symlink_to(outside)
    agent = Agent.open(inst, now=T0)
    record = agent.store.load("sample")
    assert record is not None
    record.phase, record.outcome = FINALIZING, "succeeded"
    assert finalize(agent, record) is None
    assert running.is_dir() and list(outside.iterdir()) == []
    failed = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "finalize-failed"]
    assert "AnalysedFiles/ is a symlink" in failed[-1]["message"]


# -- finalize changes modes only inside the UoW ---------------------------------


def test_finalize_never_changes_a_mode_through_a_hard_link(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("private")
    secret.chmod(0o600)
    fake = FakeExecutor()
    running = running_job(inst, fake)
    os.link(secret, running / "data" / "ref")  # the job ran `ln $SECRET data/ref`
    (running / "data" / "out.txt").write_text("result")
    (running / "data" / "out.txt").chmod(0o600)
    fake.finish(fake.by_name["flowcron-proj-sample"])
    tick(inst, fake, now=T0)
    done = inst.path(protocol.ANALYSED) / "sample"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert stat.S_IMODE((done / "data" / "out.txt").stat().st_mode) == 0o660
    notes = report_of(done)["notes"]
    assert any("'data/ref'" in n and "hard link" in n for n in notes), notes
    warnings = [e["message"] for e in read_events(inst.path(protocol.LOGS))]
    assert any("'data/ref'" in m for m in warnings)


def test_finalize_removes_an_outside_link_below_path_max(inst: InstanceConfig) -> None:
    fake = FakeExecutor()
    running = running_job(inst, fake)
    with deep_tree(running / "data" / "deep", 250) as bottom:
        os.symlink("/etc", "escape", dir_fd=bottom)
        os.symlink("..", "inside", dir_fd=bottom)
    etc_mode = stat.S_IMODE(Path("/etc").stat().st_mode)
    fake.finish(fake.by_name["flowcron-proj-sample"])
    tick(inst, fake, now=T0)
    removed = report_of(inst.path(protocol.ANALYSED) / "sample")["removed_symlinks"]
    assert len(removed) == 1 and removed[0].endswith("/escape") and removed[0].count("/") == 252
    assert stat.S_IMODE(Path("/etc").stat().st_mode) == etc_mode


def test_a_job_cannot_keep_its_uow_read_only(inst: InstanceConfig) -> None:
    # As root the rename would succeed anyway; the owner's write bit shows the
    # agent restored it (as a plain user, without it nothing can be moved; see
    # test_finalize_traps.py and test_finalize_slurm.py).
    fake = FakeExecutor()
    running = running_job(inst, fake)
    (running / "data").chmod(0o555)
    running.chmod(0o555)  # the job ran `chmod 555 "$1"`
    fake.finish(fake.by_name["flowcron-proj-sample"])
    tick(inst, fake, now=T0)
    done = inst.path(protocol.ANALYSED) / "sample"
    for folder in (done, done / "data"):
        assert folder.stat().st_mode & stat.S_IRWXU == stat.S_IRWXU, oct(folder.stat().st_mode)


# -- admission sees the whole tree -----------------------------------------------


def test_admission_finds_an_outside_link_at_depth_250(inst: InstanceConfig) -> None:
    uow = make_uow(inst.path(protocol.UPLOADED), "deep")
    with deep_tree(uow / "data" / "tree", 250) as bottom:
        os.symlink("/etc/passwd", "passwd", dir_fd=bottom)
    verdict = admit(uow, inst, now=T0)
    assert not verdict.ok
    assert any("passwd' is a symlink to '/etc/passwd'" in p for p in verdict.problems)


def test_admission_counts_the_bytes_below_path_max(inst: InstanceConfig) -> None:
    small = InstanceConfig(
        name="proj", base_dir=inst.base_dir, account="acct", qos="normal", max_uow_bytes=1000
    )
    uow = make_uow(small.path(protocol.UPLOADED), "heavy")
    with deep_tree(uow / "data" / "tree", 200) as bottom:
        fd = os.open("big.bin", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=bottom)
        os.ftruncate(fd, 5000)
        os.close(fd)
    verdict = admit(uow, small, now=T0)
    assert any("over the size limit" in p for p in verdict.problems)


def test_admission_is_still_a_pure_read(inst: InstanceConfig) -> None:
    uow = make_uow(inst.path(protocol.UPLOADED), "look")
    (uow / "data" / "out").symlink_to("/etc/hostname")
    (uow / "data" / "input.txt").chmod(0o600)
    before = snapshot(uow)
    admit(uow, inst, now=T0)
    assert snapshot(uow) == before
    assert StateStore(inst.base_dir).all_records() == {}


def test_the_tick_command_exits_1_and_says_which_directory(
    inst: InstanceConfig, tmp_path: Path
) -> None:
    save_instance(dataclasses.replace(inst, executor="local", schedule="none"))
    inst.path(protocol.RECYCLING_BIN).rmdir()
    inst.path(protocol.RECYCLING_BIN).symlink_to(tmp_path)
    done = agent_cmd("tick", str(inst.base_dir))
    assert done.returncode == EXIT_FAILED
    assert "instance layout refused" in done.stderr and "RecyclingBin/ is a symlink" in done.stderr
    assert "real directory" in done.stderr

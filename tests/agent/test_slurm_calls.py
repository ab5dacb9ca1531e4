"""How many Slurm commands a tick runs (issue 13): a steady tick is the ping and one query.

Whether the cluster keeps accounting is learnt from the batched query itself
(a sacct that says accounting storage is disabled sends it to the controller)
and remembered in ``CodeToRun/.state/slurm-accounting.json`` for an hour (see
:class:`~hpc_agent.executors.slurm.SlurmExecutor`): no tick asks sacct about it
separately. The first tests
replace :func:`hpc_agent.executors.slurm._run` with a recorder answering
canned Slurm output; the last runs on the real test bed (marker ``slurm``).
"""

from __future__ import annotations

import json
import subprocess
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors import make_executor, slurm
from hpc_agent.executors.slurm import (
    ACCOUNTING_FILE,
    ACCOUNTING_MAX_AGE,
    SlurmExecutor,
    read_accounting,
    write_accounting,
)
from hpc_agent.loop.state import SUBMITTED, JobRecord, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.record import job_name

RUNNING = 50
"""Recorded jobs in the steady instance: the count must not depend on it."""


class FakeSlurm:
    """Answers Slurm argv lists like a cluster whose jobs all wait; records each call."""

    def __init__(self, cfg: InstanceConfig, *, accounting: bool = True) -> None:
        self.cfg = cfg
        self.accounting = accounting
        self.calls: list[list[str]] = []

    def kinds(self) -> list[str]:
        """Each call as ``command`` or ``command subcommand`` (detection is ``sacct now``)."""
        out = []
        for argv in self.calls:
            if argv[0] == "scontrol":
                out.append(f"scontrol {argv[1]}")
            elif argv[0] == "sacct" and "now" in argv:
                out.append("sacct now")
            else:
                out.append(argv[0])
        return out

    def __call__(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(argv))
        if argv[:2] == ["scontrol", "ping"]:
            return self._done("Slurmctld(primary) at ctl is UP\n")
        if argv[0] == "sacct" and not self.accounting:
            return self._done("", 1, "sacct: error: Slurm accounting storage is disabled\n")
        submit = datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
        ids = argv[argv.index("-j") + 1].split(",") if "-j" in argv else []
        lines = []
        for job_id in ids:
            name = job_name(self.cfg.name, f"run{int(job_id) - 5000:04d}")
            if argv[0] == "sacct":
                fields = [job_id, name, "PENDING", "0:0", "00:00:00", "None assigned"]
                lines.append("|".join([*fields, submit, "Unknown", "Unknown", "None", job_id]))
            else:
                fields = [job_id, name, "PENDING", "None", "", submit, "N/A", "N/A", "0:00"]
                lines.append("|".join([*fields, job_id]))
        return self._done("".join(line + "\n" for line in lines))

    @staticmethod
    def _done(stdout: str, code: int = 0, stderr: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess([], code, stdout, stderr)


def steady(cfg: InstanceConfig) -> InstanceConfig:
    """``cfg`` (executor slurm) with :data:`RUNNING` submitted jobs and nothing to admit."""
    cfg = InstanceConfig(
        name=cfg.name, base_dir=cfg.base_dir, account=cfg.account, qos=cfg.qos, executor="slurm"
    )
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    store = StateStore(cfg.base_dir)
    store.ensure()
    now = time.time()
    for i in range(RUNNING):
        name = f"run{i:04d}"
        (cfg.path(protocol.RUNNING) / name / "data").mkdir(parents=True)
        store.save(
            JobRecord(
                uow=name,
                phase=SUBMITTED,
                source=name,
                admitted_at=now,
                job_name=job_name(cfg.name, name),
                job_id=str(5000 + i),
                submitted_at=now - 60,
            )
        )
    return cfg


def test_a_steady_tick_makes_two_slurm_calls(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = steady(cfg)
    fake = FakeSlurm(cfg)
    monkeypatch.setattr(slurm, "_run", fake)
    first = tick(cfg)
    assert first.exit_code == 0, first.message
    # Even the first tick: the query itself shows that there is accounting.
    assert fake.kinds() == ["scontrol ping", "sacct"]
    cache = json.loads((StateStore(cfg.base_dir).root / ACCOUNTING_FILE).read_text())
    assert cache["accounting"] is True
    for _ in range(3):  # every later tick, each with a new executor as in a new process
        fake.calls.clear()
        assert tick(cfg).exit_code == 0
        assert fake.kinds() == ["scontrol ping", "sacct"]
    assert len(fake.calls[1][fake.calls[1].index("-j") + 1].split(",")) == RUNNING


def test_the_remembered_answer_expires(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = steady(cfg)
    fake = FakeSlurm(cfg)
    monkeypatch.setattr(slurm, "_run", fake)
    path = StateStore(cfg.base_dir).root / ACCOUNTING_FILE
    write_accounting(path, False, now=time.time() - ACCOUNTING_MAX_AGE - 1)
    assert tick(cfg).exit_code == 0
    # Off an hour ago: sacct is tried again, answers, and is used from now on.
    assert fake.kinds() == ["scontrol ping", "sacct"]
    assert read_accounting(path) is True
    written = json.loads(path.read_text())["checked_at"]
    assert time.time() - written < 60


def test_accounting_turned_off_is_noticed_by_the_query(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = steady(cfg)
    fake = FakeSlurm(cfg, accounting=False)
    monkeypatch.setattr(slurm, "_run", fake)
    path = StateStore(cfg.base_dir).root / ACCOUNTING_FILE
    write_accounting(path, True)
    assert tick(cfg).exit_code == 0
    # sacct refused: the same tick asks the controller, and the next one goes there directly.
    assert fake.kinds() == ["scontrol ping", "sacct", "squeue"]
    assert read_accounting(path) is False
    fake.calls.clear()
    assert tick(cfg).exit_code == 0
    assert fake.kinds() == ["scontrol ping", "squeue"]


def test_without_accounting_a_steady_tick_also_makes_two_calls(
    cfg: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = steady(cfg)
    fake = FakeSlurm(cfg, accounting=False)
    monkeypatch.setattr(slurm, "_run", fake)
    assert tick(cfg).exit_code == 0
    assert fake.kinds() == ["scontrol ping", "sacct", "squeue"]
    fake.calls.clear()
    assert tick(cfg).exit_code == 0
    assert fake.kinds() == ["scontrol ping", "squeue"]
    # An hour later sacct is asked once more (one call more in that one tick).
    path = StateStore(cfg.base_dir).root / ACCOUNTING_FILE
    write_accounting(path, False, now=time.time() - ACCOUNTING_MAX_AGE - 1)
    fake.calls.clear()
    assert tick(cfg).exit_code == 0
    assert fake.kinds() == ["scontrol ping", "sacct", "squeue"]


@pytest.mark.parametrize(
    "content",
    [
        "not json",
        "[]",
        '{"accounting": "yes", "checked_at": 0}',
        '{"accounting": true}',
    ],
)
def test_a_damaged_memory_is_asked_again(tmp_path: Path, content: str) -> None:
    path = tmp_path / ACCOUNTING_FILE
    path.write_text(content)
    assert read_accounting(path) is None
    assert read_accounting(tmp_path / "missing.json") is None


def test_a_memory_from_the_future_or_another_slurm_is_asked_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / ACCOUNTING_FILE
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/a.conf")
    write_accounting(path, False, now=time.time() + 600)  # the clock went back since
    assert read_accounting(path) is None
    write_accounting(path, False)
    assert read_accounting(path) is False
    monkeypatch.setenv("SLURM_CONF", "/etc/slurm/b.conf")
    assert read_accounting(path) is None


def test_an_explicit_answer_is_used_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(slurm, "_run", run)
    path = tmp_path / ACCOUNTING_FILE
    executor = SlurmExecutor(accounting=False, accounting_file=path)
    assert executor.query(["5"]) == {}
    assert [argv[0] for argv in calls] == ["squeue"]
    assert not path.exists()


def test_an_unwritable_memory_costs_only_a_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(slurm, "_run", run)
    executor = SlurmExecutor(accounting_file=tmp_path / "no" / "such" / ACCOUNTING_FILE)
    assert executor.accounting is True
    assert executor.accounting is True
    assert len(calls) == 1


def test_make_executor_remembers_in_the_state_directory(cfg: InstanceConfig) -> None:
    cfg = steady(cfg)
    executor = make_executor(cfg)
    assert isinstance(executor, SlurmExecutor)
    assert executor.accounting_file == StateStore(cfg.base_dir).root / ACCOUNTING_FILE


@pytest.mark.slurm
@pytest.mark.parametrize("bed_name", ["slurm_cluster", "slurm_cluster_noacct"])
def test_a_steady_tick_on_the_test_bed_makes_two_calls(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, bed_name: str
) -> None:
    from tests.agent.helpers import make_uow
    from tests.agent.slurm_helpers import instance

    try:
        bed: Any = request.getfixturevalue(bed_name)
    except pytest.FixtureLookupError:
        pytest.skip(f"the {bed_name} fixture (tests/conftest.py) is not available")
    for key, value in bed.env.items():
        monkeypatch.setenv(key, value)
    cfg = instance(bed, tmp_path / "inst")
    script = "#!/bin/bash\n#SBATCH --time=00:02:00\n#SBATCH --mem=50M\nsleep 120\n"
    for i in range(3):
        make_uow(cfg.path(protocol.UPLOADED), f"long{i}", script=script)
    calls: list[list[str]] = []
    real_run = slurm._run

    def counting_run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
        calls.append(list(argv))
        return real_run(argv, timeout)

    monkeypatch.setattr(slurm, "_run", counting_run)
    try:
        first = tick(cfg)
        assert len(first.submitted) == 3, first.message
        if bed.accounting:
            _wait_until_slurmdbd_names(bed, list(first.submitted.values()))
        seen = []
        for _ in range(3):
            calls.clear()
            result = tick(cfg)
            assert result.exit_code == 0, result.message
            seen.append([argv[0] for argv in calls])
        # The first query learns whether there is accounting: without it, sacct says
        # so and the controller is asked in the same tick. Then two calls a tick.
        learning = ["scontrol", "sacct"] if bed.accounting else ["scontrol", "sacct", "squeue"]
        steady = ["scontrol", "sacct" if bed.accounting else "squeue"]
        assert seen == [learning, steady, steady], calls
    finally:
        bed.run(["scancel", "--user", bed.user], check=False)


def _wait_until_slurmdbd_names(bed: Any, job_ids: list[str], timeout: float = 60) -> None:
    """Wait until sacct lists the jobs with their names.

    Until then (seconds after a submission or a controller restart, which an
    earlier test may have done) slurmdbd shows them as ``allocation`` and the
    query adds its documented squeue for their names: not a steady tick.
    """
    deadline = time.monotonic() + timeout
    argv = ["sacct", "-n", "-P", "-X", "-j", ",".join(job_ids), "--format=JobName"]
    while time.monotonic() < deadline:
        names = bed.run(argv, check=False).stdout.split()
        if len(names) == len(job_ids) and slurm.UNNAMED_IN_ACCOUNTING not in names:
            return
        time.sleep(1)
    raise AssertionError(f"slurmdbd did not name {job_ids} within {timeout} s")

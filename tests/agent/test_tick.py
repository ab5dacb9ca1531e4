"""The tick against an in-memory executor: every step, every branch a user would notice."""

from __future__ import annotations

import dataclasses
import errno
import itertools
import json
import os
import stat
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import ExecutorError, JobInfo, JobSpec, SchedulerUnavailable
from hpc_agent.executors.slurm import SlurmExecutor
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_SCHEDULER_DOWN
from hpc_agent.loop import fast_handback
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.lock import InstanceLock
from hpc_agent.loop.state import JobRecord, Ledger, StateStore
from hpc_agent.loop.tick import TickResult, tick
from hpc_agent.uow.record import RECOVERY_CLOCK_SLACK, job_name
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

RUN_ID = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
NAME = f"sample_{RUN_ID}"


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def upload(cfg: InstanceConfig, name: str = NAME, **kw: object) -> Path:
    return make_uow(cfg.path(protocol.UPLOADED), name, **kw)  # type: ignore[arg-type]


def report(cfg: InstanceConfig, where: str, name: str = NAME) -> dict[str, object]:
    data: dict[str, object] = json.loads(
        (cfg.path(where) / name / protocol.REPORT_JSON).read_text()
    )
    return data


def test_upload_runs_and_lands_in_analysed_with_report(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    first = tick(inst, fake)
    assert first.exit_code == 0
    assert list(first.submitted) == [NAME]
    running = inst.path(protocol.RUNNING) / NAME
    assert running.is_dir() and not (inst.path(protocol.UPLOADED) / NAME).exists()

    spec = fake.specs[0]
    assert spec.name == f"flowcron-proj-{NAME}"
    assert spec.workdir == running
    assert spec.args == (str(running),)
    assert (spec.account, spec.qos) == ("acct", "normal")
    assert (spec.stdout, spec.stderr) == (protocol.SLURM_STDOUT, protocol.SLURM_STDERR)
    # The submitted script is a copy outside the user's files.
    assert running not in spec.script.parents
    assert spec.script.read_text() == (running / "scripts/submission_script.sh").read_text()

    tick(inst, fake)  # still pending: nothing moves
    assert running.is_dir()

    fake.finish(first.submitted[NAME])
    second = tick(inst, fake)
    assert second.finished == {NAME: f"{protocol.ANALYSED}/{NAME}"}
    done = inst.path(protocol.ANALYSED) / NAME
    assert done.is_dir() and not (done / protocol.SENTINELS_DIR).exists()
    got = report(inst, protocol.ANALYSED)
    assert got["outcome"] == "succeeded"
    assert got["job_id"] == first.submitted[NAME]
    assert got["state"] == "COMPLETED" and got["exit_code"] == "0:0"
    assert got["run_id"] == RUN_ID
    assert len(str(got["script_sha256"])) == 64
    assert "The job succeeded." in (done / protocol.REPORT_TEXT).read_text()
    assert StateStore(inst.base_dir).all_records() == {}
    ledger = Ledger(StateStore(inst.base_dir).root).load()
    assert ledger.at(f"{protocol.ANALYSED}/{NAME}") is not None


def test_failed_job_lands_in_failed_jobs_with_reason(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    job = tick(inst, fake).submitted[NAME]
    fake.finish(job, "FAILED", "3:0")
    tick(inst, fake)
    got = report(inst, protocol.FAILED)
    assert got["outcome"] == "failed"
    assert "FAILED" in str(got["reason"]) and "3:0" in str(got["reason"])
    assert f"slurm-{job}.err" in str(got["next_step"])


def test_completed_with_nonzero_exit_is_not_success(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    job = tick(inst, fake).submitted[NAME]
    fake.finish(job, "COMPLETED", "0:9")
    tick(inst, fake)
    assert (inst.path(protocol.FAILED) / NAME).is_dir()


def test_rejected_upload_goes_to_failed_jobs_without_submitting(inst: InstanceConfig) -> None:
    upload(inst, script="echo no shebang\n", script_name="run.txt")
    fake = FakeExecutor()
    result = tick(inst, fake)
    assert result.rejected == [NAME] and fake.specs == []
    got = report(inst, protocol.FAILED)
    assert got["outcome"] == "rejected"
    assert "No job script found" in " ".join(got["problems"])  # type: ignore[arg-type]
    assert not (inst.path(protocol.FAILED) / NAME / protocol.SENTINELS_DIR).exists()


def test_upload_still_in_progress_is_left_alone(inst: InstanceConfig) -> None:
    upload(inst, sentinels=False)
    fake = FakeExecutor()
    tick(inst, fake)
    assert (inst.path(protocol.UPLOADED) / NAME).is_dir()
    assert fake.calls == ["ping"]


def test_sbatch_refusal_lands_in_failed_jobs_with_its_message(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    fake.reject_message = "sbatch: error: Batch job submission failed: Invalid account"
    tick(inst, fake)
    got = report(inst, protocol.FAILED)
    assert "Invalid account" in str(got["reason"])
    assert got["job_id"] is None


def test_scheduler_down_stops_the_tick_and_moves_nothing(inst: InstanceConfig) -> None:
    upload(inst, "first")
    fake = FakeExecutor()
    tick(inst, fake)
    upload(inst, "second")
    fake.down = True
    result = tick(inst, fake)
    assert result.exit_code == EXIT_SCHEDULER_DOWN
    assert (inst.path(protocol.UPLOADED) / "second").is_dir()
    assert (inst.path(protocol.RUNNING) / "first").is_dir()
    assert list(inst.path(protocol.FAILED).iterdir()) == []
    events = [e["event"] for e in read_events(inst.path(protocol.LOGS))]
    assert "scheduler-unavailable" in events

    fake.down = False
    again = tick(inst, fake)
    assert again.exit_code == 0 and list(again.submitted) == ["second"]


def test_scheduler_down_with_nothing_recorded_yet_leaves_the_upload_alone(
    inst: InstanceConfig,
) -> None:
    upload(inst)
    fake = FakeExecutor()
    fake.down = True
    result = tick(inst, fake)
    assert result.exit_code == EXIT_SCHEDULER_DOWN
    assert (inst.path(protocol.UPLOADED) / NAME / protocol.SENTINELS_DIR).is_dir()
    assert list(inst.path(protocol.RUNNING).iterdir()) == []
    assert StateStore(inst.base_dir).all_records() == {}
    assert fake.calls == ["ping"]

    fake.down = False
    assert list(tick(inst, fake).submitted) == [NAME]


def test_an_unusable_scheduler_answer_stops_the_tick_with_exit_1(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(inst, "first")
    fake = FakeExecutor()
    tick(inst, fake)
    upload(inst, "second")

    def garbled(job_ids: object) -> object:
        raise ExecutorError("sacct failed: sacct: error: something unexpected")

    monkeypatch.setattr(fake, "query", garbled)
    result = tick(inst, fake)
    assert result.exit_code == EXIT_FAILED and "something unexpected" in result.message
    assert (inst.path(protocol.UPLOADED) / "second" / protocol.SENTINELS_DIR).is_dir()
    assert (inst.path(protocol.RUNNING) / "first").is_dir()
    assert "scheduler-error" in [e["event"] for e in read_events(inst.path(protocol.LOGS))]


def test_vanished_job_fails_after_the_grace_period(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    job = tick(inst, fake, now=1000.0).submitted[NAME]
    fake.forget(job)
    tick(inst, fake, now=1010.0)
    assert (inst.path(protocol.RUNNING) / NAME).is_dir()  # within the grace period
    tick(inst, fake, now=1010.0 + inst.unknown_job_grace_seconds)
    assert "job vanished from Slurm" in str(report(inst, protocol.FAILED)["reason"])


def test_one_scheduler_query_per_tick_whatever_the_number_of_uows(inst: InstanceConfig) -> None:
    for number in range(40):
        upload(inst, f"uow{number:02d}")
    fake = FakeExecutor()
    tick(inst, fake)
    assert fake.calls.count("submit") == 40 and fake.calls.count("query") == 0
    fake.calls.clear()
    result = tick(inst, fake)
    # The ping every tick starts with, then one batched query for all 40 jobs.
    assert fake.calls == ["ping", "query"] and result.scheduler_queries == 2


def test_interrupted_submission_is_found_by_name_not_resubmitted(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    tick(inst, fake)
    store = StateStore(inst.base_dir)
    record = store.load(NAME)
    assert record is not None and record.job_id is not None
    # As if the agent died after sbatch answered but before the id was recorded.
    job = record.job_id
    record.job_id, record.phase = None, "submitting"
    store.save(record)
    tick(inst, fake)
    assert fake.calls.count("submit") == 1
    again = store.load(NAME)
    assert again is not None and again.job_id == job
    # Only jobs submitted since the intent (less the clock slack) may be this UoW's.
    assert record.submit_intent_at is not None
    assert fake.name_lookups == [record.submit_intent_at - RECOVERY_CLOCK_SLACK]


def test_timestamp_option_keeps_names_with_a_run_id(inst: InstanceConfig) -> None:
    import dataclasses

    stamped = dataclasses.replace(inst, timestamp=True)
    upload(stamped, NAME)
    upload(stamped, "plain")
    tick(stamped, FakeExecutor(), now=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    names = sorted(p.name for p in stamped.path(protocol.RUNNING).iterdir())
    assert names == sorted([NAME, "plain_20260101-000000"])


def test_name_clash_in_finished_dir_gets_a_suffix(inst: InstanceConfig) -> None:
    (inst.path(protocol.ANALYSED) / NAME).mkdir()
    (inst.path(protocol.ANALYSED) / NAME / "keep.txt").write_text("earlier results")
    upload(inst)
    fake = FakeExecutor()
    fake.finish(tick(inst, fake).submitted[NAME])
    tick(inst, fake)
    assert (inst.path(protocol.ANALYSED) / NAME / "keep.txt").read_text() == "earlier results"
    assert (inst.path(protocol.ANALYSED) / f"{NAME}.1" / protocol.REPORT_JSON).is_file()


def test_finalize_removes_outside_symlinks_and_opens_to_the_group(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    job = tick(inst, fake).submitted[NAME]
    running = inst.path(protocol.RUNNING) / NAME
    # The job made these while it ran.
    (running / "data" / "outside").symlink_to("/etc/hostname")
    (running / "data" / "inside").symlink_to("input.txt")
    (running / "data" / "input.txt").chmod(0o600)
    fake.finish(job)
    tick(inst, fake)
    done = inst.path(protocol.ANALYSED) / NAME
    assert not os.path.lexists(done / "data" / "outside")
    assert (done / "data" / "inside").is_symlink()
    assert stat.S_IMODE((done / "data" / "input.txt").stat().st_mode) & 0o060 == 0o060
    assert (done / "data").stat().st_mode & stat.S_ISGID
    assert report(inst, protocol.ANALYSED)["removed_symlinks"] == ["data/outside"]


def test_failed_move_loses_nothing_and_is_retried(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(inst)
    fake = FakeExecutor()
    fake.finish(tick(inst, fake).submitted[NAME])
    real_rename = Path.rename

    def full_disk(self: Path, target: str | os.PathLike[str]) -> Path:
        if protocol.ANALYSED in str(target):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", full_disk)
    result = tick(inst, fake)
    assert result.finished == {}
    running = inst.path(protocol.RUNNING) / NAME
    assert (running / "data" / "input.txt").read_text() == "1 2 3\n"
    errors = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "finalize-failed"]
    assert errors and "No space left on device" in errors[0]["message"]

    monkeypatch.setattr(Path, "rename", real_rename)
    tick(inst, fake)
    assert (inst.path(protocol.ANALYSED) / NAME / "data" / "input.txt").is_file()
    assert fake.calls.count("submit") == 1


def test_admission_move_failure_keeps_the_upload(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    upload(inst)

    def denied(self: Path, target: str | os.PathLike[str]) -> Path:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(Path, "rename", denied)
    fake = FakeExecutor()
    tick(inst, fake)
    assert (inst.path(protocol.UPLOADED) / NAME / "sentinels").is_dir()
    assert fake.specs == [] and StateStore(inst.base_dir).all_records() == {}
    monkeypatch.undo()
    assert list(tick(inst, fake).submitted) == [NAME]


def test_busy_instance_exits_zero_at_once(inst: InstanceConfig) -> None:
    upload(inst)
    holder = InstanceLock(inst.base_dir, inst.lease_timeout_seconds)
    assert holder.acquire()
    try:
        fake = FakeExecutor()
        result = tick(inst, fake)
    finally:
        holder.release()
    assert not result.ran and result.exit_code == 0 and fake.calls == []
    assert any(e["event"] == "tick-skipped" for e in read_events(inst.path(protocol.LOGS)))


def test_every_step_of_a_uows_life_is_in_the_log(inst: InstanceConfig) -> None:
    upload(inst)
    fake = FakeExecutor()
    fake.finish(tick(inst, fake).submitted[NAME])
    tick(inst, fake)
    events = [e["event"] for e in read_events(inst.path(protocol.LOGS), uow=NAME)]
    assert events == ["admitted", "submitted", "job-ended", "finalized"]
    assert all(e["run_id"] == RUN_ID for e in read_events(inst.path(protocol.LOGS), uow=NAME))


def test_job_names_are_sanitised_and_stay_unique() -> None:
    assert job_name("proj", "ok_name-1.2") == "flowcron-proj-ok_name-1.2"
    odd, other = job_name("proj", "a b"), job_name("proj", "a_b")
    assert " " not in odd and odd != other


def test_uow_whose_name_starts_with_a_dot_finishes_and_runs_once(inst: InstanceConfig) -> None:
    # Its record is a dot-file (.name.json); a tick that skipped such records
    # rebuilt it every time, never finalized the UoW and, once Slurm forgot the
    # job, submitted it again.
    name = f".sample_{RUN_ID}"
    upload(inst, name)
    fake = FakeExecutor()
    job_id = tick(inst, fake).submitted[name]
    fake.finish(job_id)
    second = tick(inst, fake)
    assert second.finished == {name: f"{protocol.ANALYSED}/{name}"}
    assert report(inst, protocol.ANALYSED, name)["job_id"] == job_id
    fake.forget(job_id)
    fake.by_name.clear()
    third = tick(inst, fake)
    assert third.submitted == {} and fake.calls.count("submit") == 1


def test_user_entries_at_the_report_names_are_rejected_and_kept(inst: InstanceConfig) -> None:
    uow = upload(inst)
    (uow / protocol.REPORT_JSON).mkdir()
    (uow / protocol.REPORT_JSON / "mine.txt").write_text("my notes\n")
    (uow / protocol.REPORT_TEXT).write_text("my own report\n")

    result = tick(inst, FakeExecutor())

    assert result.finished == {NAME: f"{protocol.FAILED}/{NAME}"}
    done = inst.path(protocol.FAILED) / NAME
    got = report(inst, protocol.FAILED)
    assert got["outcome"] == "rejected"
    assert any(protocol.REPORT_JSON in problem for problem in got["problems"])  # type: ignore[attr-defined]
    assert (done / f"{protocol.REPORT_JSON}.user" / "mine.txt").read_text() == "my notes\n"
    assert (done / f"{protocol.REPORT_TEXT}.user").read_text() == "my own report\n"
    assert (done / protocol.REPORT_TEXT).read_text().startswith("FlowCron report")


def test_a_job_that_makes_a_folder_at_the_report_name_is_still_handed_back(
    inst: InstanceConfig,
) -> None:
    upload(inst)
    fake = FakeExecutor()
    job_id = tick(inst, fake).submitted[NAME]
    (inst.path(protocol.RUNNING) / NAME / protocol.REPORT_JSON).mkdir()  # the job's output
    fake.finish(job_id)

    assert tick(inst, fake).finished == {NAME: f"{protocol.ANALYSED}/{NAME}"}
    done = inst.path(protocol.ANALYSED) / NAME
    assert (done / f"{protocol.REPORT_JSON}.user").is_dir()
    assert report(inst, protocol.ANALYSED)["outcome"] == "succeeded"


NOBODY = 65534


def test_a_subfolder_the_agent_cannot_read_is_a_warning_not_a_stuck_uow(
    tmp_path: Path, inst: InstanceConfig
) -> None:
    import dataclasses
    import tempfile

    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    # An instance owned by an unprivileged agent account, holding a colleague's
    # private folder the agent may neither read nor chmod.
    base = Path(tempfile.mkdtemp(prefix="flowcron-perm-", dir="/tmp"))
    try:
        base.chmod(0o755)
        cfg = dataclasses.replace(inst, base_dir=base)
        for directory in protocol.INSTANCE_DIRS:
            cfg.path(directory).mkdir(parents=True, exist_ok=True)
        uow = upload(cfg)
        for path in [base, *base.rglob("*")]:
            os.lchown(path, NOBODY, NOBODY)
        fake = FakeExecutor()

        def as_agent(fn: Callable[[], TickResult]) -> TickResult:
            os.setegid(NOBODY)
            os.seteuid(NOBODY)
            try:
                return fn()
            finally:
                os.seteuid(0)
                os.setegid(0)

        job_id = as_agent(lambda: tick(cfg, fake)).submitted[NAME]
        # While the job runs, a colleague (root here) makes a private folder in it.
        private = cfg.path(protocol.RUNNING) / uow.name / "data" / "private"
        private.mkdir()
        (private / "secret.txt").write_text("x\n")
        private.chmod(0o700)
        fake.finish(job_id)
        second = as_agent(lambda: tick(cfg, fake))

        assert second.finished == {NAME: f"{protocol.ANALYSED}/{NAME}"}
        done = cfg.path(protocol.ANALYSED) / NAME
        assert (done / "data" / "private" / "secret.txt").read_text() == "x\n"
        notes = report(cfg, protocol.ANALYSED)["notes"]
        assert any("data/private" in note for note in notes)  # type: ignore[attr-defined]
        warnings = [e for e in read_events(cfg.path(protocol.LOGS)) if e["level"] == "warning"]
        assert any("data/private" in e["message"] for e in warnings)
    finally:
        import shutil

        shutil.rmtree(base)


class FailsAfter(FakeExecutor):
    """Accepts ``good`` submissions, then the scheduler is down (from any thread)."""

    def __init__(self, good: int) -> None:
        super().__init__()
        self.good = good

    def _submit(self, spec: JobSpec) -> str:
        if len(self.specs) >= self.good:
            self.down = True
        return super()._submit(spec)


def test_scheduler_down_mid_pool_stops_the_rest_and_the_next_tick_submits_each_once(
    inst: InstanceConfig,
) -> None:
    cfg = dataclasses.replace(inst, submit_workers=4)
    names = [f"u{i:02d}_{RUN_ID}" for i in range(20)]
    for name in names:
        upload(cfg, name)
    fake = FailsAfter(good=6)
    first = tick(cfg, fake)
    assert first.exit_code == EXIT_SCHEDULER_DOWN
    assert len(first.submitted) == 6
    store = StateStore(cfg.base_dir)
    records = {n: store.load(n) for n in names}
    phases = {n: r.phase for n, r in records.items() if r is not None}
    # No half states: a job id recorded, or intent only (looked up by name), or untouched;
    # once the scheduler was found down, admission stopped too (the rest wait as uploads).
    assert set(phases.values()) <= {"submitted", "submitting", "admitted"}
    waiting = sorted(p.name for p in cfg.path(protocol.UPLOADED).iterdir())
    assert waiting == sorted(n for n, r in records.items() if r is None)
    assert [n for n, p in phases.items() if p == "submitted"] == list(first.submitted)
    # The pool stopped: not every UoW was tried against the dead scheduler.
    assert fake.calls.count("submit") < len(names)
    fake.down = False
    fake.good = 10**6
    second = tick(cfg, fake)
    assert second.exit_code == 0, second.message
    assert len(fake.specs) == len(names)
    assert sorted(spec.name for spec in fake.specs) == sorted(job_name(cfg.name, n) for n in names)
    assert all(store.load(n).phase == "submitted" for n in names)  # type: ignore[union-attr]


def test_submissions_start_in_admission_order(inst: InstanceConfig) -> None:
    names = [f"u{i:02d}_{RUN_ID}" for i in range(12)]
    for name in reversed(names):
        upload(inst, name)
    fake = FakeExecutor()
    result = tick(dataclasses.replace(inst, submit_workers=1), fake)
    assert list(result.submitted) == names
    assert [s.name for s in fake.specs] == [job_name(inst.name, n) for n in names]


@pytest.mark.parametrize("workers", [1, 4])
def test_a_new_uow_costs_few_record_writes(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # Each record write is a file creation and an fsync, a wait on the disk; a tick
    # of 500 new UoWs spends most of its time there. Admitted and submitted by one
    # thread, the intent rides in the admission record.
    saves: list[tuple[str, str]] = []
    save = StateStore.save

    def spy(self: StateStore, record: JobRecord) -> None:
        saves.append((record.uow, record.phase))
        save(self, record)

    monkeypatch.setattr(StateStore, "save", spy)
    cfg = dataclasses.replace(inst, submit_workers=workers)
    for n in range(3):
        upload(cfg, f"uow-{n}")
    result = tick(cfg, FakeExecutor())
    assert sorted(result.submitted) == ["uow-0", "uow-1", "uow-2"]
    per_uow = {name: [phase for uow, phase in saves if uow == name] for name in result.submitted}
    assert all(phases == ["submitting", "submitted"] for phases in per_uow.values()), per_uow


class WrappingSlurm(SlurmExecutor):
    """The Slurm executor with sbatch replaced by a recorder: its jobs are wrapped."""

    def __init__(self) -> None:
        super().__init__(accounting=True)
        self.scripts: dict[str, bytes] = {}
        self.names: dict[str, str] = {}
        self._ids = itertools.count(100)  # next() is atomic: the pool's threads submit

    def ping(self) -> None:
        return None

    def submit(self, spec: JobSpec) -> str:
        job_id = str(next(self._ids))
        self.scripts[job_id] = spec.script.read_bytes()  # what sbatch would read
        self.names[job_id] = spec.name
        return job_id

    def query(self, job_ids: Sequence[str]) -> Mapping[str, JobInfo]:
        return {}

    def find_by_name(
        self, names: Sequence[str], *, submitted_after: float | None = None
    ) -> Mapping[str, str]:
        return {}  # sbatch never created a job it did not return


@pytest.mark.parametrize("workers", [1, 4])
def test_a_wrapped_job_carries_its_script_and_costs_two_disk_waits(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # A UoW submitted as soon as it is admitted needs no prepared copy on disk: the
    # job wrapper carries the script to Slurm. What is synced is the admission
    # record (with the intent) and the record with the job id; the marker is not.
    synced: list[str] = []
    fsync = os.fsync

    def spy(fd: int) -> None:
        synced.append(str(Path(f"/proc/self/fd/{fd}").readlink()))
        fsync(fd)

    monkeypatch.setattr(os, "fsync", spy)
    cfg = dataclasses.replace(inst, submit_workers=workers)
    scripts = {f"uow-{n}": f"#!/bin/bash\n#SBATCH --time=1\necho run {n}\n" for n in range(3)}
    for name, script in scripts.items():
        upload(cfg, name, script=script)
    slurm = WrappingSlurm()
    result = tick(cfg, slurm)
    assert sorted(result.submitted) == sorted(scripts)
    for name, job_id in result.submitted.items():
        wrapper = slurm.scripts[job_id]
        assert wrapper.startswith(b"#!" + os.fsencode(sys.executable) + b" -IS\n")
        assert b"\n#SBATCH --time=1\n# FlowCron job wrapper" in wrapper, "the script's header"
        namespace: dict[str, Any] = {}
        exec(wrapper.replace(b"\nmain(CONFIG)\n", b"\n"), namespace)  # our own wrapper, not run
        assert namespace["CONFIG"]["script"] == scripts[name].encode()
        assert not StateStore(cfg.base_dir).script_path(name).exists(), "no prepared copy"
    per_uow = [sum(1 for path in synced if f"/.{name}.json." in path) for name in scripts]
    assert per_uow == [2, 2, 2], synced
    assert not [path for path in synced if protocol.UOW_MARKER in path], synced


def test_a_uow_left_unsubmitted_by_an_outage_is_submitted_next_tick_from_its_folder(
    inst: InstanceConfig,
) -> None:
    # Admitted with the intent, no job, no prepared copy on disk: the next tick looks
    # the job up by name, prepares the script again from the folder and submits it.
    script = "#!/bin/bash\n#SBATCH --time=1\necho once\n"
    upload(inst, "uow", script=script)
    store = StateStore(inst.base_dir)
    store.ensure()
    # What an earlier run of the same name left when a kill cut its clean-up short.
    store.script_path("uow").write_text("#!/bin/bash\necho OLD\n")
    fast_handback.job_script(store, "uow", inst.base_dir, b"#!/bin/bash\necho OLD too\n")
    slurm = WrappingSlurm()
    refused: list[str] = []

    def down(spec: JobSpec) -> str:
        refused.append(spec.name)
        raise SchedulerUnavailable("sbatch: error: Unable to contact slurm controller")

    slurm.submit = down  # type: ignore[method-assign]
    first = tick(inst, slurm)
    assert first.exit_code == EXIT_SCHEDULER_DOWN and refused == [job_name(inst.name, "uow")]
    record = store.load("uow")
    assert record is not None and record.phase == "submitting" and record.job_id is None
    assert not store.script_path("uow").exists()
    del slurm.submit
    second = tick(inst, slurm)
    job_id = second.submitted["uow"]
    namespace: dict[str, Any] = {}
    exec(slurm.scripts[job_id].replace(b"\nmain(CONFIG)\n", b"\n"), namespace)
    assert namespace["CONFIG"]["script"] == script.encode()
    assert list(slurm.scripts) == [job_id], "submitted once"


def test_a_lost_job_is_submitted_again_with_the_script_it_was_first_given(
    inst: InstanceConfig,
) -> None:
    # Its job may have changed the folder (and its script) before Slurm lost it: the
    # second job runs what the first was given, carried by the first job's wrapper.
    script = "#!/bin/bash\n#SBATCH --time=1\necho first\n"
    upload(inst, "uow", script=script)
    slurm = WrappingSlurm()
    first = tick(inst, slurm).submitted["uow"]
    running = inst.path(protocol.RUNNING) / "uow"
    (running / "scripts" / "submission_script.sh").write_text("#!/bin/bash\necho changed\n")
    (running / "data" / "escape").symlink_to("/etc")  # admission would refuse the folder now
    store = StateStore(inst.base_dir)
    record = store.load("uow")
    assert record is not None
    record.phase, record.job_id = "admitted", None  # as the tick leaves a job Slurm lost
    store.save(record)
    second = tick(inst, slurm).submitted["uow"]
    assert second != first
    namespace: dict[str, Any] = {}
    exec(slurm.scripts[second].replace(b"\nmain(CONFIG)\n", b"\n"), namespace)
    assert namespace["CONFIG"]["script"] == script.encode()


def test_a_script_that_cannot_be_wrapped_still_gets_its_finalize_job(inst: InstanceConfig) -> None:
    # A lone CR in the #SBATCH header would break the wrapper's Python: the script
    # runs unwrapped, so it hands nothing back itself and the finalize job must.
    cfg = dataclasses.replace(inst, finalize_by_dependency=True)
    upload(cfg, "uow", script="#!/bin/bash\n#SBATCH --time=1 # odd\r end\necho hi\n")
    slurm = WrappingSlurm()
    job_id = tick(cfg, slurm).submitted["uow"]
    assert slurm.scripts[job_id].startswith(b"#!/bin/bash\n#SBATCH --time=1 # odd\r")
    assert sorted(slurm.names.values()) == [
        job_name(cfg.name, "uow"),
        job_name(cfg.name, "uow") + "-finalize",
    ]


def test_a_lost_job_whose_script_is_gone_and_changed_is_not_run_again(
    inst: InstanceConfig,
) -> None:
    # Without the first job's wrapper (a power loss) the script could only be prepared
    # again from the folder, and the folder's script is no longer the one submitted.
    upload(inst, "uow", script="#!/bin/bash\necho first\n")
    slurm = WrappingSlurm()
    first = tick(inst, slurm).submitted["uow"]
    running = inst.path(protocol.RUNNING) / "uow"
    (running / "scripts" / "submission_script.sh").write_text("#!/bin/bash\necho changed\n")
    store = StateStore(inst.base_dir)
    fast_handback.wrapper_path(store, "uow").unlink()
    record = store.load("uow")
    assert record is not None
    record.phase, record.job_id = "admitted", None
    record.lost_jobs = [{"job_id": first}]
    store.save(record)
    result = tick(inst, slurm)
    assert "uow" not in result.submitted and list(slurm.scripts) == [first]
    failed = json.loads((inst.path(protocol.FAILED) / "uow" / protocol.REPORT_JSON).read_text())
    assert "did not run a different script" in failed["reason"], failed["reason"]


def test_a_tick_sweeps_its_own_leftovers_at_once_and_a_jobs_only_once_old(
    inst: InstanceConfig,
) -> None:
    # A tick's temporary files are a crash's (only the lock holder writes them); a job
    # wrapper writes its ".part" files without the lock, so only old ones are a killed job's.
    store = StateStore(inst.base_dir)
    store.ensure()
    tick_tmp = store.jobs_dir / ".uow.json.abcdefgh.tmp"
    fresh = store.scripts_dir / ".uow.ended.json.123.part"
    old = store.scripts_dir / ".other.ended.json.456.part"
    for path in (tick_tmp, fresh, old):
        path.write_text("{")
    hours_ago = time.time() - 7200
    os.utime(old, (hours_ago, hours_ago))
    tick(inst, FakeExecutor())
    assert not tick_tmp.exists() and not old.exists()
    assert fresh.exists()

"""Admission limits in the tick (issue 12), against the in-memory executor."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.holds import HELD_FILE
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.site.status import collect_status, format_status
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def upload(cfg: InstanceConfig, name: str, user: str | None, **kw: object) -> Path:
    uow = make_uow(cfg.path(protocol.UPLOADED), name, **kw)  # type: ignore[arg-type]
    if user is not None:
        (uow / protocol.STARTER_DIR / user).mkdir(parents=True)
    return uow


def burst(cfg: InstanceConfig, user: str, count: int) -> list[str]:
    names = []
    for i in range(count):
        names.append(f"{user}-{i:02d}")
        upload(cfg, names[-1], user)
        time.sleep(0.002)  # distinct ready times: oldest first
    return names


def events(cfg: InstanceConfig, name: str) -> list[dict[str, object]]:
    return [e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == name]


def uploaded(cfg: InstanceConfig) -> set[str]:
    return {p.name for p in cfg.path(protocol.UPLOADED).iterdir()}


def test_a_burst_waits_for_its_user_limit_and_the_others_go_first(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_active_per_user=2, upload_timeout_days=1)
    alice = burst(cfg, "alice", 6)
    upload(cfg, "bob-00", "bob")
    upload(cfg, "carol-00", None)  # no starter marker: the user "unknown"
    fake = FakeExecutor()
    first = tick(cfg, fake)
    assert first.exit_code == 0
    assert sorted(first.admitted) == sorted(["bob-00", "carol-00", *alice[:2]])
    assert uploaded(cfg) == set(alice[2:])
    held = events(cfg, "held-by-limit")
    assert sorted(str(e["uow"]) for e in held) == alice[2:]
    assert {e["limit"] for e in held} == {"max_active_per_user"}
    assert {e["user"] for e in held} == {"alice"}
    records = StateStore(cfg.base_dir).all_records()
    assert records[alice[0]].user == "alice" and records["carol-00"].user == "unknown"
    assert records[alice[0]].waited_for_limit_seconds is None

    # Nothing changed: nothing admitted, nothing logged again; the held ones are untouched
    # (no marker, no report) even long after the upload time-out.
    later = time.time() + 3 * 86400
    second = tick(cfg, fake, now=later)
    assert not second.admitted and not second.rejected
    assert len(events(cfg, "held-by-limit")) == 4
    for name in alice[2:]:
        assert sorted(p.name for p in (cfg.path(protocol.UPLOADED) / name).iterdir()) == [
            "data",
            protocol.STARTER_DIR,
            "scripts",
            "sentinels",
        ]
    status = collect_status(cfg, now=later)
    waiting = {u["uow"]: u["waiting"] for u in status["uploaded"]}
    assert waiting[alice[2]]["limit"] == "max_active_per_user"
    assert "waiting: alice has 2 of 2 queued or running (max_active_per_user)" in (
        format_status(status)
    )

    # Two of alice's jobs end: the next two are admitted in the same tick, in order.
    for job_id in (fake.by_name[f"flowcron-proj-{n}"] for n in alice[:2]):
        fake.finish(job_id)
    third = tick(cfg, fake, now=later + 60)
    assert sorted(third.admitted) == alice[2:4]
    assert set(third.finished) == set(alice[:2])
    records = StateStore(cfg.base_dir).all_records()
    waited = records[alice[2]].waited_for_limit_seconds
    assert waited is not None and waited >= 3 * 86400
    memory = json.loads((StateStore(cfg.base_dir).root / HELD_FILE).read_text())
    assert sorted(memory) == alice[4:]

    # Drain the rest; the report of one that waited says so.
    for _ in range(4):
        for record in StateStore(cfg.base_dir).all_records().values():
            if record.job_id and not fake.jobs[record.job_id].finished:
                fake.finish(record.job_id)
        tick(cfg, fake, now=later + 120)
    assert not uploaded(cfg)
    assert not (StateStore(cfg.base_dir).root / HELD_FILE).exists()
    done = cfg.path(protocol.ANALYSED) / alice[5]
    report = json.loads((done / protocol.REPORT_JSON).read_text())
    assert report["waited_for_limit_seconds"] >= 3 * 86400
    assert "before it was admitted" in (done / protocol.REPORT_TEXT).read_text()
    assert len(events(cfg, "held-by-limit")) == 4  # once per UoW and limit, never again
    # Every one of alice's UoWs was submitted once; the order is the plan's, within
    # the submit_workers window (test_one_submit_worker_keeps_the_exact_order).
    submitted = [s.name.removeprefix("flowcron-proj-") for s in fake.specs]
    assert sorted(n for n in submitted if n.startswith("alice")) == alice


def test_one_submit_worker_keeps_the_exact_order(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_active_per_user=2, submit_workers=1)
    alice = burst(cfg, "alice", 4)
    upload(cfg, "bob-00", "bob")
    fake = FakeExecutor()
    first = tick(cfg, fake)
    # Round-robin across users, oldest first within a user; sbatch in that order.
    assert first.admitted == ["alice-00", "bob-00", "alice-01"]
    assert [s.name.removeprefix("flowcron-proj-") for s in fake.specs] == first.admitted
    for job_id in list(fake.jobs):
        fake.finish(job_id)
    second = tick(cfg, fake)
    assert second.admitted == alice[2:]
    assert [s.name.removeprefix("flowcron-proj-") for s in fake.specs][3:] == alice[2:]


def test_running_limit_counts_jobs_not_known_to_wait(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_running_per_user=1)
    alice = burst(cfg, "alice", 3)
    fake = FakeExecutor()
    assert tick(cfg, fake).admitted == alice[:1]  # its state is not known yet: running
    # The query says PENDING: it waits in the queue, so it is not running.
    assert tick(cfg, fake).admitted == alice[1:2]
    job = fake.by_name[f"flowcron-proj-{alice[0]}"]
    fake.jobs[job] = dataclasses.replace(fake.jobs[job], state="RUNNING")
    assert tick(cfg, fake).admitted == []
    status = format_status(collect_status(cfg))
    assert "waiting: alice has 1 of 1 running (max_running_per_user)" in status


def test_instance_limit_shares_the_room_round_robin(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_active=3)
    alice = burst(cfg, "alice", 5)
    bob = burst(cfg, "bob", 5)
    fake = FakeExecutor()
    assert tick(cfg, fake).admitted == [alice[0], bob[0], alice[1]]
    held = events(cfg, "held-by-limit")
    assert {e["limit"] for e in held} == {"max_active"}
    assert len(held) == 7


def test_bytes_limit(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_uow_bytes_per_user=20_000)
    names = []
    for i in range(3):
        names.append(f"big-{i}")
        uow = upload(cfg, names[-1], "alice")
        (uow / "data" / "blob").write_bytes(b"x" * 15_000)
        time.sleep(0.002)
    fake = FakeExecutor()
    assert tick(cfg, fake).admitted == names[:1]
    records = StateStore(cfg.base_dir).all_records()
    size = records[names[0]].uow_bytes
    assert size is not None and size > 15_000
    (held,) = {e["limit"] for e in events(cfg, "held-by-limit")}
    assert held == "max_uow_bytes_per_user"
    fake.finish(fake.by_name[f"flowcron-proj-{names[0]}"])
    tick(cfg, fake)  # finalized: the bytes leave CodeToRun at the end of this tick
    assert tick(cfg, fake).admitted == names[1:2]


def test_lifting_the_limits_admits_everything_and_forgets(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_active=1)
    names = burst(cfg, "alice", 3)
    fake = FakeExecutor()
    tick(cfg, fake)
    assert (StateStore(cfg.base_dir).root / HELD_FILE).exists()
    assert sorted(tick(inst, fake).admitted) == names[1:]
    assert not (StateStore(cfg.base_dir).root / HELD_FILE).exists()


def test_refusals_never_wait_for_a_limit(inst: InstanceConfig) -> None:
    cfg = dataclasses.replace(inst, max_active=1)
    burst(cfg, "alice", 2)
    bad = upload(cfg, "zz-bad", "alice", sentinels=False)
    (bad / protocol.SENTINELS_DIR).write_text("not a folder")
    result = tick(cfg, FakeExecutor())
    assert result.rejected == ["zz-bad"]
    assert result.admitted == ["alice-00"]

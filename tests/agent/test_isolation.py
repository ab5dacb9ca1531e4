"""One bad Unit of Work never stops the others: names, bytes and broken state files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.exitcodes import EXIT_FAILED
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.state import LEDGER_FILE, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.site.status import collect_status
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

LONG = "L" * 240
NON_UTF8 = os.fsdecode(b"caf\xe9-run")  # Latin-1 bytes from an old laptop


@pytest.fixture
def inst(cfg: InstanceConfig) -> InstanceConfig:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    return cfg


def run_to_end(inst: InstanceConfig, fake: FakeExecutor, ticks: int = 3) -> None:
    for _ in range(ticks):
        result = tick(inst, fake)
        for job_id in result.submitted.values():
            fake.finish(job_id)


def finished(inst: InstanceConfig) -> dict[str, str]:
    return {
        p.name: where
        for where in (protocol.ANALYSED, protocol.FAILED)
        for p in inst.path(where).iterdir()
    }


def test_a_name_too_long_for_the_state_files_runs_like_any_other(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), LONG)
    make_uow(inst.path(protocol.UPLOADED), "zz-after")
    fake = FakeExecutor()
    first = tick(inst, fake)
    assert sorted(first.submitted) == [LONG, "zz-after"]
    for job_id in first.submitted.values():
        fake.finish(job_id)
    run_to_end(inst, fake)
    assert finished(inst) == {LONG: protocol.ANALYSED, "zz-after": protocol.ANALYSED}


def test_non_utf8_names_are_reported_and_logged_losslessly(inst: InstanceConfig) -> None:
    uow = make_uow(inst.path(protocol.UPLOADED), NON_UTF8)
    (uow / "scripts" / os.fsdecode(b"notes-\xff.txt")).write_text("x\n")
    make_uow(inst.path(protocol.UPLOADED), "zz-after")
    fake = FakeExecutor()
    run_to_end(inst, fake)
    assert finished(inst) == {NON_UTF8: protocol.FAILED, "zz-after": protocol.ANALYSED}
    raw = (inst.path(protocol.FAILED) / NON_UTF8 / protocol.REPORT_JSON).read_bytes()
    report = json.loads(raw.decode("utf-8"))  # valid UTF-8 JSON...
    assert report["uow"] == NON_UTF8  # ...that gives the real name back
    text = (inst.path(protocol.FAILED) / NON_UTF8 / protocol.REPORT_TEXT).read_text()
    assert "caf\\xe9-run" in text
    events = [e for e in read_events(inst.path(protocol.LOGS)) if e["uow"] == NON_UTF8]
    assert {"rejected", "finalized"} <= {e["event"] for e in events}


def test_a_corrupt_record_is_moved_aside_and_the_uow_rebuilt(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "victim")
    make_uow(inst.path(protocol.UPLOADED), "other")
    fake = FakeExecutor()
    assert "victim" in tick(inst, fake).submitted
    store = StateStore(inst.base_dir)
    store.record_path("victim").write_bytes(b"\xff\xfe not a record")
    assert collect_status(inst)["instance"] == inst.name, "status must still work"
    second = tick(inst, fake)
    assert second.exit_code == EXIT_FAILED, "a damaged record is worth a non-zero exit"
    for job_id in fake.by_name.values():
        fake.finish(job_id)
    run_to_end(inst, fake)
    assert finished(inst) == {"victim": protocol.ANALYSED, "other": protocol.ANALYSED}
    assert fake.calls.count("submit") == 2, "the rebuilt record must not submit again"
    aside = list((store.root / "corrupt").iterdir())
    assert len(aside) == 1 and aside[0].read_bytes() == b"\xff\xfe not a record"
    events = [e["event"] for e in read_events(inst.path(protocol.LOGS))]
    assert "record-corrupt" in events


def test_a_corrupt_ledger_does_not_stop_ticks_or_status(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "u")
    fake = FakeExecutor()
    run_to_end(inst, fake)
    ledger = StateStore(inst.base_dir).root / LEDGER_FILE
    ledger.write_bytes(b"\xc3\x28 broken")
    assert collect_status(inst)["instance"] == inst.name
    assert tick(inst, fake).exit_code == EXIT_FAILED
    assert tick(inst, fake).exit_code == 0, "once moved aside, ticks are clean again"
    assert "ledger-corrupt" in [e["event"] for e in read_events(inst.path(protocol.LOGS))]
    [aside] = ledger.parent.glob(f"{LEDGER_FILE}.damaged.*")
    assert aside.read_bytes() == b"\xc3\x28 broken"


def test_an_unexpected_error_in_one_uow_is_logged_and_the_rest_carry_on(
    inst: InstanceConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hpc_agent.loop.admit_phase as tick_module

    real_admit = tick_module.admit

    def admit(path: Path, cfg: InstanceConfig, **kw: object) -> object:
        if path.name == "boom":
            raise RuntimeError("a bug in admission")
        return real_admit(path, cfg, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(tick_module, "admit", admit)
    for name in ("a-first", "boom", "z-last"):
        make_uow(inst.path(protocol.UPLOADED), name)
    fake = FakeExecutor()
    result = tick(inst, fake)
    assert sorted(result.submitted) == ["a-first", "z-last"]
    assert result.exit_code == EXIT_FAILED
    [error] = [e for e in read_events(inst.path(protocol.LOGS)) if e["event"] == "uow-error"]
    assert error["uow"] == "boom" and "a bug in admission" in error["message"]
    # Refused with a report at once, its files intact, rather than left to time out.
    run_to_end(inst, fake)
    refused = inst.path(protocol.FAILED) / "boom"
    assert (refused / "data" / "input.txt").read_text() == "1 2 3\n"
    report = json.loads((refused / protocol.REPORT_JSON).read_text())
    assert report["outcome"] == "rejected"
    assert "a bug in admission" in report["problems"][0]


def test_percent_in_a_name_is_never_expanded_in_slurm_paths(inst: InstanceConfig) -> None:
    make_uow(inst.path(protocol.UPLOADED), "pct%u")
    fake = FakeExecutor()
    tick(inst, fake)
    [spec] = fake.specs
    assert "%u" not in str(spec.stdout) and "%u" not in str(spec.stderr)
    assert str(spec.stdout).endswith("slurm-%j.out")


def test_temporary_state_files_of_a_killed_tick_are_removed(inst: InstanceConfig) -> None:
    store = StateStore(inst.base_dir)
    store.ensure()
    leftovers = [
        store.jobs_dir / ".sample.json.x1y2z3w4.tmp",
        store.scripts_dir / ".sample.sh.x1y2z3w4.tmp",
        store.root / f".{LEDGER_FILE}.x1y2z3w4.tmp",
    ]
    for path in leftovers:
        path.write_text("half")
    tick(inst, FakeExecutor())
    assert [p for p in leftovers if p.exists()] == []

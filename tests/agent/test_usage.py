"""``hpc-agent usage``: the ledger fields finalize writes, the figures, sacct, the formats."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.cli import main
from hpc_agent.cli.usage import parse_date
from hpc_agent.config import InstanceConfig, save_instance
from hpc_agent.loop.state import Ledger, StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.finalize import Agent
from hpc_agent.uow.retention import apply_retention
from hpc_agent.usage import figures
from hpc_agent.usage.figures import COLUMNS, compute, item_from_entry
from hpc_agent.usage.sacct import (
    ID_BUDGET,
    AccountingUnavailable,
    JobUsage,
    parse_rss,
    parse_usage,
    sacct_argv,
)
from tests.agent.fakes import FakeExecutor
from tests.agent.helpers import make_uow

DAY = 86400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def entry(n: int, **fields: Any) -> dict[str, Any]:
    """A ledger entry as finalize writes it, handed back ``n`` hours after T0."""
    base: dict[str, Any] = {
        "at": T0 + n * 3600,
        "uow": f"u{n}_0b7c5fd9",
        "job_id": str(1000 + n),
        "user": "alice",
        "function": "script:submission_script.sh",
        "outcome": "succeeded",
        "state": "COMPLETED",
        "reason": None,
        "admitted": T0 + n * 3600 - 600,
        "submitted": T0 + n * 3600 - 590,
        "started": T0 + n * 3600 - 530,
        "ended": T0 + n * 3600 - 30,
        "finished": T0 + n * 3600,
        "bytes": 1000,
    }
    base.update(fields)
    return base


def ledger_entries() -> dict[str, Any]:
    return {
        f"{protocol.ANALYSED}/a1": entry(1),
        f"{protocol.ANALYSED}/a2": entry(2, user="bob", function="relion-refine", bytes=500),
        f"{protocol.FAILED}/f3": entry(
            3, outcome="failed", state="TIMEOUT", reason="TIMEOUT", user="bob", started=None
        ),
        f"{protocol.FAILED}/r4": entry(
            30, outcome="rejected", state=None, job_id=None, started=None, submitted=None
        ),
        # Written before usage existed: only at, uow and job_id.
        f"{protocol.ANALYSED}/old": {"at": T0 + 4 * 3600, "uow": "old", "job_id": "77"},
        f"{protocol.FAILED}/oldrej": {"at": T0 + 5 * 3600, "uow": "oldrej", "job_id": None},
        # Not the agent's UoWs: found by retention, a stray folder.
        f"{protocol.ANALYSED}/byhand": {"at": T0, "found": True},
        f"{protocol.FAILED}/stray": {"at": T0, "stray": True},
    }


@pytest.fixture
def local_cfg(cfg: InstanceConfig) -> InstanceConfig:
    """The instance on the local executor (no accounting), saved so the CLI finds it."""
    local = dataclasses.replace(cfg, executor="local")
    for directory in protocol.INSTANCE_DIRS:
        local.path(directory).mkdir(parents=True, exist_ok=True)
    save_instance(local)
    return local


def write_ledger(cfg: InstanceConfig, entries: dict[str, Any]) -> None:
    ledger = Ledger(StateStore(cfg.base_dir).root)
    ledger.entries = entries
    ledger.dirty = True
    ledger.save()


# -- the figures ------------------------------------------------------------------


def test_by_user_counts_outcomes_bytes_and_queue_wait(local_cfg: InstanceConfig) -> None:
    usage = compute(local_cfg, entries=ledger_entries(), by="user")
    groups = {g.name: g for g in usage.groups}
    assert set(groups) == {"alice", "bob", "unknown"}
    alice, bob, unknown = groups["alice"], groups["bob"], groups["unknown"]
    assert (alice.uows, alice.succeeded, alice.failed, alice.rejected) == (2, 1, 0, 1)
    assert (bob.uows, bob.succeeded, bob.failed) == (2, 1, 1)
    assert (unknown.uows, unknown.succeeded, unknown.rejected) == (2, 1, 1)  # old entries
    assert alice.bytes == 2000 and bob.bytes == 1500 and unknown.bytes is None
    assert alice.wait_median == 60.0 and bob.wait_p90 == 60.0  # started - submitted
    assert usage.total.uows == 6
    # Without accounting the CPU, GPU and memory columns are empty, and it says why.
    assert not usage.accounting
    assert set(usage.missing) == {"cpu_hours", "gpu_hours", "peak_memory"}
    assert "local executor" in usage.missing["cpu_hours"]
    assert alice.cpu_hours is None and alice.peak_memory is None


@pytest.mark.parametrize(
    ("by", "names"),
    [
        ("user", ["alice", "bob", "unknown"]),
        ("function", ["relion-refine", "script:submission_script.sh", "unknown"]),
        ("state", ["COMPLETED", "NOT_RUN", "TIMEOUT"]),
        ("day", ["2026-01-01", "2026-01-02"]),
    ],
)
def test_every_grouping(local_cfg: InstanceConfig, by: str, names: list[str]) -> None:
    usage = compute(local_cfg, entries=ledger_entries(), by=by)
    assert [g.name for g in usage.groups] == names
    assert sum(g.uows for g in usage.groups) == usage.total.uows == 6


def test_since_and_until_select_by_hand_back_time(local_cfg: InstanceConfig) -> None:
    usage = compute(local_cfg, entries=ledger_entries(), since=T0 + 2 * 3600, until=T0 + DAY)
    assert sorted(i.uow for i in usage.items) == ["old", "oldrej", "u2_0b7c5fd9", "u3_0b7c5fd9"]


def test_an_entry_moved_by_retention_keeps_its_outcome() -> None:
    moved = {"at": T0 + DAY * 30, "came_from": f"{protocol.ANALYSED}/x", "uow": "x", "job_id": "5"}
    item = item_from_entry(f"{protocol.RECYCLING_BIN}/x", moved)
    assert item is not None and item.outcome == "succeeded"
    assert item_from_entry("AnalysedFiles/y", "not a dict") is None


def test_quantiles_are_median_and_90th_percentile(local_cfg: InstanceConfig) -> None:
    entries = {
        f"{protocol.ANALYSED}/w{n}": entry(n, submitted=T0, started=T0 + 10.0 * n)
        for n in range(1, 11)
    }
    total = compute(local_cfg, entries=entries).total
    assert total.wait_median == 55.0
    assert total.wait_p90 == pytest.approx(91.0)


# -- sacct ---------------------------------------------------------------------------

# Recorded shape of `sacct -D -n -P -j ... --format=<USAGE_FIELDS>` (Slurm 22.05): a plain
# job with its steps, an array of two tasks with a GPU, and an id used twice (-D).
SACCT = """\
1001|1001|COMPLETED|2026-01-01T00:00:00|2026-01-01T00:01:00|2026-01-01T01:01:00|3600|billing=4,cpu=4,mem=1G,node=1|
1001.batch|1001.batch|COMPLETED|2026-01-01T00:01:00|2026-01-01T00:01:00|2026-01-01T01:01:00|3600|cpu=4,mem=1G,node=1|2048K
1001.0|1001.0|COMPLETED|2026-01-01T00:01:00|2026-01-01T00:01:00|2026-01-01T01:01:00|3600|cpu=4,mem=1G,node=1|1.5G
1002_1|1003|COMPLETED|2026-01-01T00:00:00|2026-01-01T00:10:00|2026-01-01T00:40:00|1800|billing=2,cpu=2,gres/gpu=1,mem=1G,node=1|
1002_1.batch|1003.batch|COMPLETED|2026-01-01T00:10:00|2026-01-01T00:10:00|2026-01-01T00:40:00|1800|cpu=2,gres/gpu=1,mem=1G,node=1|100M
1002_2|1002|FAILED|2026-01-01T00:00:00|2026-01-01T00:20:00|2026-01-01T00:50:00|1800|billing=2,cpu=2,gres/gpu:a100=1,mem=1G,node=1|
1002_2.batch|1002.batch|FAILED|2026-01-01T00:20:00|2026-01-01T00:20:00|2026-01-01T00:50:00|1800|cpu=2,mem=1G,node=1|300M
1003|1003|COMPLETED|2025-06-01T00:00:00|2025-06-01T00:00:00|2025-06-01T00:00:10|10|cpu=64,node=1|
1003.batch|1003.batch|COMPLETED|2025-06-01T00:00:00|2025-06-01T00:00:00|2025-06-01T00:00:10|10|cpu=64,node=1|9G
1003|1003|COMPLETED|2026-01-01T00:00:00|2026-01-01T00:00:30|2026-01-01T00:01:30|60|cpu=1,node=1|
1003.batch|1003.batch|COMPLETED|2026-01-01T00:00:30|2026-01-01T00:00:30|2026-01-01T00:01:30|60|cpu=1,node=1|10M
"""


def test_parse_usage_sums_tasks_and_takes_the_peak_of_steps() -> None:
    found = parse_usage(SACCT)
    (plain,) = found["1001"]
    assert plain.cpu_seconds == 4 * 3600 and plain.gpu_seconds == 0
    assert plain.max_rss == int(1.5 * 1024**3) and plain.wait == 60
    (array,) = found["1002"]
    assert array.cpu_seconds == 2 * 1800 * 2 and array.gpu_seconds == 2 * 1800
    assert array.max_rss == 300 * 1024**2
    assert array.state == "FAILED" and array.wait == 600  # first start - submit
    # An id Slurm used twice: each job keeps its own steps.
    assert sorted(u.max_rss or 0 for u in found["1003"]) == [10 * 1024**2, 9 * 1024**3]


def test_parse_rss_units() -> None:
    assert parse_rss("0") == 0 and parse_rss("1T") == 1024**4 and parse_rss("x") is None


def test_sacct_argv_lists_ids_or_asks_for_the_period() -> None:
    argv = sacct_argv(["12", "3"], T0, T0 + DAY)
    assert argv[:4] == ["sacct", "-D", "-n", "-P"] and "-j" in argv
    assert argv[argv.index("-j") + 1] == "3,12" and "-X" not in argv
    many = [str(n) for n in range(ID_BUDGET // 4)]
    wide = sacct_argv(many, T0, T0 + DAY)
    assert "-j" not in wide and "-S" in wide and "-E" in wide


def fake_fetch(text: str, calls: list[Sequence[str]]) -> figures.Fetch:
    def run(ids: Sequence[str], start: float, end: float | None) -> Mapping[str, list[JobUsage]]:
        calls.append(list(ids))
        return parse_usage(text)

    return run


def test_accounting_fills_cpu_gpu_memory_with_one_call(cfg: InstanceConfig) -> None:
    entries = {
        "AnalysedFiles/a": entry(1, job_id="1001", submitted=T0 - 3600 * 10),
        "AnalysedFiles/b": entry(2, job_id="1002", user="bob"),
        "AnalysedFiles/c": entry(3, job_id="1003", user="bob", submitted=T0 + 5),
        "FailedJobs/r": entry(4, job_id=None, outcome="rejected"),
    }
    calls: list[Sequence[str]] = []
    usage = compute(cfg, entries=entries, fetcher=fake_fetch(SACCT, calls))
    assert len(calls) == 1 and sorted(calls[0]) == ["1001", "1002", "1003"]
    assert usage.accounting and usage.missing == {}
    groups = {g.name: g for g in usage.groups}
    assert groups["alice"].cpu_hours == pytest.approx(4.0)
    assert groups["bob"].cpu_hours == pytest.approx(2.0 + 60 / 3600)  # the 2026 job 1003
    assert groups["bob"].gpu_hours == pytest.approx(1.0)
    assert groups["alice"].peak_memory == int(1.5 * 1024**3)
    assert groups["bob"].wait_median == pytest.approx((600 + 30) / 2)  # from sacct


def test_failing_sacct_falls_back_to_the_ledger_and_says_so(cfg: InstanceConfig) -> None:
    def broken(ids: Sequence[str], start: float, end: float | None) -> Mapping[str, Any]:
        raise AccountingUnavailable("this cluster keeps no job accounting")

    usage = compute(cfg, entries=ledger_entries(), fetcher=broken)
    assert not usage.accounting and usage.total.uows == 6
    assert usage.missing["gpu_hours"] == "this cluster keeps no job accounting"


# -- the command ------------------------------------------------------------------------


def run_usage(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["usage", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_usage_text_json_csv(local_cfg: InstanceConfig, capsys: pytest.CaptureFixture[str]) -> None:
    write_ledger(local_cfg, ledger_entries())
    base = str(local_cfg.base_dir)
    code, text, _ = run_usage(capsys, base)
    assert code == 0
    lines = text.splitlines()
    assert lines[0].startswith(f"Usage of {local_cfg.name}")
    assert lines[2].split()[:4] == ["user", "UoWs", "ok", "failed"]
    assert lines[3].split()[:5] == ["alice", "2", "1", "0", "1"]
    assert lines[6].split()[:2] == ["total", "6"]
    assert "Missing: CPU-h, GPU-h, peak mem" in text

    code, out, err = run_usage(capsys, base, "--format", "json", "--by", "function")
    data = json.loads(out)
    assert data["by"] == "function" and data["columns"] == list(COLUMNS)
    assert data["total"]["uows"] == 6 and data["accounting"] is False
    assert {g["name"] for g in data["groups"]} >= {"relion-refine"}
    assert "no accounting" in err

    code, out, _ = run_usage(capsys, base, "--format", "csv", "--by", "state")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["state", *COLUMNS]
    timeout = next(r for r in rows if r[0] == "TIMEOUT")
    assert timeout[1:5] == ["1", "0", "1", "0"] and timeout[5] == ""  # cpu_hours missing


def test_usage_since_until_on_the_command_line(
    local_cfg: InstanceConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    write_ledger(local_cfg, ledger_entries())
    base = str(local_cfg.base_dir)
    window = ("--since", "2026-01-01T02:00", "--until", "2026-01-01")
    _, out, _ = run_usage(capsys, base, "--format", "json", *window)
    assert json.loads(out)["total"]["uows"] == 4
    _, out, _ = run_usage(capsys, base, "--format", "json", "--until", "2026-01-01")
    assert json.loads(out)["total"]["uows"] == 5
    _, out, _ = run_usage(capsys, base, "--format", "json", "--since", "2026-01-02")
    assert json.loads(out)["total"]["uows"] == 1
    code, _, err = run_usage(capsys, base, "--since", "2026-01-02", "--until", "2026-01-01")
    assert code == 2 and "--until must be after --since" in err
    with pytest.raises(SystemExit):
        main(["usage", base, "--since", "last tuesday"])


def test_parse_date_forms() -> None:
    assert parse_date("2026-01-01") == T0
    assert parse_date("2026-01-01", end=True) == T0 + DAY
    assert parse_date("2026-01-01T12:00:00Z") == T0 + DAY / 2
    assert parse_date("7d", now=T0) == T0 - 7 * DAY


def test_usage_without_an_instance_needs_exactly_one_registered(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_usage(capsys)
    assert code == 2 and "name the instance" in err


# -- what finalize writes ---------------------------------------------------------------


def test_finalize_writes_the_usage_fields(cfg: InstanceConfig) -> None:
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    make_uow(cfg.path(protocol.UPLOADED), "ok_1")
    make_uow(cfg.path(protocol.UPLOADED), "bad_1", script=None)
    fake = FakeExecutor()
    job = tick(cfg, fake).submitted["ok_1"]
    fake.finish(job)
    tick(cfg, fake)
    entries = Ledger(StateStore(cfg.base_dir).root).load().entries
    ok = entries[f"{protocol.ANALYSED}/ok_1"]
    assert ok["uow"] == "ok_1" and ok["job_id"] == job and ok["user"] == "unknown"
    assert ok["function"] == "script:submission_script.sh"
    assert (ok["outcome"], ok["state"]) == ("succeeded", "COMPLETED")
    assert ok["admitted"] <= ok["submitted"] <= ok["finished"] == ok["at"]
    assert ok["started"] is not None and ok["ended"] is not None
    # Counted while permissions are set, before the agent writes its report files.
    done = cfg.path(protocol.ANALYSED) / "ok_1"
    reports = (protocol.REPORT_JSON, protocol.REPORT_TEXT)
    files = [p for p in done.rglob("*") if p.is_file() and p.name not in reports]
    assert ok["bytes"] == sum(p.stat().st_size for p in files) > 0
    bad = entries[f"{protocol.FAILED}/bad_1"]
    assert (bad["outcome"], bad["job_id"], bad["state"]) == ("rejected", None, None)
    assert bad["reason"] and bad["function"] == "script:?"


def test_retention_carries_the_usage_fields_into_the_bin(cfg: InstanceConfig) -> None:
    cfg = dataclasses.replace(cfg, soft_delete_days=1)
    for directory in protocol.INSTANCE_DIRS:
        cfg.path(directory).mkdir(parents=True, exist_ok=True)
    (cfg.path(protocol.ANALYSED) / "a1").mkdir()
    write_ledger(cfg, {f"{protocol.ANALYSED}/a1": entry(1, uow="a1")})
    agent = Agent.open(cfg, now=time.time())
    apply_retention(agent)
    moved = agent.ledger.entries[f"{protocol.RECYCLING_BIN}/a1"]
    assert moved["came_from"] == f"{protocol.ANALYSED}/a1"
    assert moved["user"] == "alice" and moved["finished"] == T0 + 3600
    item = item_from_entry(f"{protocol.RECYCLING_BIN}/a1", moved)
    assert item is not None and item.finished == T0 + 3600 and item.outcome == "succeeded"


# -- on the real Slurm test bed ---------------------------------------------------------

SLEEPY = "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n#SBATCH --mem=50M\nsleep 2\n"


@pytest.mark.slurm
def test_usage_from_real_sacct(
    slurm_env: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.agent.slurm_helpers import instance, tick_until_done

    cfg = instance(slurm_env, tmp_path / "inst")
    names = ["one", "two"]
    for name in names:
        make_uow(cfg.path(protocol.UPLOADED), name, script=SLEEPY)
    make_uow(cfg.path(protocol.UPLOADED), "nothing", script=None)  # rejected, no job
    tick_until_done(cfg, [*names, "nothing"])
    code, out, err = run_usage(capsys, str(cfg.base_dir), "--format", "json", "--since", "1d")
    assert code == 0, err
    data = json.loads(out)
    assert data["accounting"] is True and data["missing"] == {}, err
    total = data["total"]
    assert (total["uows"], total["succeeded"], total["rejected"]) == (3, 2, 1)
    # 1 CPU for about 2 s, twice (Slurm counts whole seconds).
    assert 2 * 1 / 3600 <= total["cpu_hours"] < 60 / 3600
    assert total["gpu_hours"] == 0
    assert total["wait_median"] is not None and total["wait_median"] >= 0
    assert total["bytes"] > 0
    # The same figures in process, from the same code.
    local = compute(cfg, fetcher=None, since=time.time() - DAY)
    assert local.total.uows == 3 and local.total.cpu_hours == pytest.approx(total["cpu_hours"])

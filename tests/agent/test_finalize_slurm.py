"""Real Slurm jobs that try to trap their UoW or reach outside it (issue 9).

Each job plays its trick for real; the agent then ticks as a separate process
with a plain user's permissions (:mod:`tests.agent.plain_user`: root, which
CI runs as, would ignore them) until the UoW is handed back.
"""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import read_events
from tests.agent.helpers import make_uow
from tests.agent.plain_user import SKIP_REASON, plain_prefix, run_plain
from tests.agent.slurm_helpers import FAST_SCRIPT, accounting_cluster, finished_path, instance

pytestmark = [
    pytest.mark.slurm,
    pytest.mark.skipif(plain_prefix() is None, reason=SKIP_REASON),
]


@pytest.fixture
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    return accounting_cluster(request, monkeypatch)


def job(*lines: str) -> str:
    """A job script: FAST_SCRIPT's header and output, then ``lines``."""
    return FAST_SCRIPT + "".join(line + "\n" for line in lines)


def plain_ticks_until_done(cfg: InstanceConfig, name: str, timeout: float = 120) -> Path:
    """Tick as a plain user (fresh processes, as cron would) until ``name`` is handed back."""
    deadline = time.monotonic() + timeout
    while True:
        done = run_plain(["-m", "hpc_agent", "tick", str(cfg.base_dir)])
        assert done.returncode == 0, done.stderr
        path = finished_path(cfg, name)
        if path is not None:
            return path
        failed = [
            e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == "finalize-failed"
        ]
        assert not failed, failed[-1]["message"]
        assert time.monotonic() < deadline, f"{name} not handed back within {timeout} s"
        time.sleep(0.5)


def report_of(done: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((done / protocol.REPORT_JSON).read_text())
    return data


def test_a_job_that_makes_its_uow_read_only_is_handed_back(cluster: Any, tmp_path: Path) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "ro", script=job('chmod 555 data "$1"'))
    done = plain_ticks_until_done(cfg, "ro")
    assert done.parent.name == protocol.ANALYSED
    assert (done / "data" / "out.txt").read_text().startswith("uow=")
    for folder in (done, done / "data"):
        assert folder.stat().st_mode & stat.S_IRWXU == stat.S_IRWXU


def test_a_job_that_locks_output_inside_sentinels_is_handed_back_with_it(
    cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    script = job("echo kept > sentinels/result.txt", "chmod 000 sentinels")
    make_uow(cfg.path(protocol.UPLOADED), "locked", script=script)
    done = plain_ticks_until_done(cfg, "locked")
    assert not (done / protocol.SENTINELS_DIR).exists()
    assert (done / "sentinels-content" / "result.txt").read_text() == "kept\n"
    assert any("sentinels-content" in note for note in report_of(done)["notes"])


def test_a_hard_link_to_an_outside_file_keeps_that_files_mode(cluster: Any, tmp_path: Path) -> None:
    secret = tmp_path / "secret.key"
    secret.write_text("private\n")
    secret.chmod(0o600)
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "linker", script=job(f"ln {secret} data/ref"))
    done = plain_ticks_until_done(cfg, "linker")
    assert (done / "data" / "ref").stat().st_ino == secret.stat().st_ino  # the job did link it
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    assert any("'data/ref'" in note for note in report_of(done)["notes"])


def test_a_file_a_job_writes_beside_its_uow_is_quarantined_with_a_note(
    cluster: Any, tmp_path: Path
) -> None:
    cfg = instance(cluster, tmp_path / "inst")
    make_uow(cfg.path(protocol.UPLOADED), "leaky", script=job("echo oops > ../leaked.txt"))
    plain_ticks_until_done(cfg, "leaky")
    run_plain(["-m", "hpc_agent", "tick", str(cfg.base_dir)])  # in case it ended after the sweep
    assert not (cfg.path(protocol.RUNNING) / "leaked.txt").exists()
    (folder,) = cfg.path(protocol.FAILED).glob("flowcron-stray_*")
    assert (folder / "leaked.txt").read_text() == "oops\n"
    assert "leaky (job " in (folder / "FLOWCRON_STRAY.txt").read_text()

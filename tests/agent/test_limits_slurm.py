"""Fair admission on the real Slurm test bed (issue 12): one user's burst drains two at a time.

Three users: alice uploads 50 UoWs at once, bob 2 and carol 1, with
``max_active_per_user = 2``. The first tick admits bob's and carol's with two
of alice's; then alice's drain two at a time as their (short) jobs end, oldest
first, none lost or run twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from hpc_agent import protocol
from hpc_agent.loop.eventlog import read_events
from hpc_agent.loop.fairness import ACTIVE_PHASES
from hpc_agent.loop.state import StateStore
from hpc_agent.loop.tick import tick
from hpc_agent.uow.record import job_name
from tests.agent.helpers import make_uow
from tests.agent.slurm_helpers import finished_path, instance

pytestmark = pytest.mark.slurm

QUICK = "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n#SBATCH --mem=20M\ntrue\n"


@pytest.fixture
def cluster(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The cluster without accounting: squeue sees a job end at once (no slurmdbd lag)."""
    try:
        bed = request.getfixturevalue("slurm_cluster_noacct")
    except pytest.FixtureLookupError:
        pytest.skip("the slurm_cluster_noacct fixture (tests/conftest.py) is not available")
    for key, value in bed.env.items():
        monkeypatch.setenv(key, value)
    return bed


def test_a_burst_of_fifty_drains_two_at_a_time(cluster: Any, tmp_path: Path) -> None:
    cfg = instance(cluster, tmp_path / "inst", max_active_per_user=2)
    users = {"alice": 50, "bob": 2, "carol": 1}
    names: dict[str, list[str]] = {}
    for user, count in users.items():
        for i in range(count):
            uow = make_uow(cfg.path(protocol.UPLOADED), f"{user}-{i:02d}", script=QUICK)
            (uow / protocol.STARTER_DIR / user).mkdir(parents=True)
            names.setdefault(user, []).append(uow.name)
            time.sleep(0.002)  # distinct ready times

    first = tick(cfg)
    assert first.exit_code == 0
    assert sorted(first.admitted) == sorted([*names["bob"], *names["carol"], *names["alice"][:2]])

    everything = [n for group in names.values() for n in group]
    admitted_order = list(first.admitted)
    # Every sbatch the ticks made, by UoW: exactly one each. (Asking squeue at the
    # end would miss jobs the controller forgot after MinJobAge on a slow run.)
    submissions = [*first.submitted]
    store = StateStore(cfg.base_dir)
    deadline = time.monotonic() + 150
    while not all(finished_path(cfg, n) for n in everything):
        assert time.monotonic() < deadline, "the burst did not drain in time"
        active = [
            r
            for r in store.all_records().values()
            if r.user == "alice" and r.outcome is None and r.phase in ACTIVE_PHASES
        ]
        assert len(active) <= 2, [r.uow for r in active]
        time.sleep(0.3)
        result = tick(cfg)
        assert result.exit_code == 0, result.message
        assert len([n for n in result.admitted if n.startswith("alice")]) <= 2
        admitted_order.extend(result.admitted)
        submissions.extend(result.submitted)

    # None lost, none duplicated, none reordered within a user.
    assert sorted(admitted_order) == sorted(everything)
    for user, group in names.items():
        assert [n for n in admitted_order if n.startswith(user + "-")] == group
        for name in group:
            done = finished_path(cfg, name)
            assert done is not None and done.parent.name == protocol.ANALYSED, name
            assert submissions.count(name) == 1, name
            report = json.loads((done / protocol.REPORT_JSON).read_text())
            assert report["job_name"] == job_name(cfg.name, name), name
    assert not list(cfg.path(protocol.UPLOADED).iterdir())
    held = [e for e in read_events(cfg.path(protocol.LOGS)) if e["event"] == "held-by-limit"]
    # Logged once per held UoW (48 of alice's), never again while they waited.
    assert sorted(str(e["uow"]) for e in held) == names["alice"][2:]

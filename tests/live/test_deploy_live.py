"""Deploy, run and delete the FlowCron flow on a real Globus account (make live-test).

Acts as the confidential client in GLOBUS_CLIENT_ID/GLOBUS_CLIENT_SECRET.
FLOWGEN_LIVE_COLLECTION names a collection the client may read; the run
points at a folder that need not exist there, so the test waits only for the
run to be accepted and to make progress, then cancels it. The flow is
deleted at the end whatever happens.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowgen.deploy.auth import open_session
from flowgen.deploy.deploy import deploy, drift, prepare
from flowgen.deploy.lockfile import read_lock
from flowgen.deploy.runs import flowcron_input, run_status, start_run

pytestmark = pytest.mark.live


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "flows" / "live.toml"
    path.parent.mkdir()
    path.write_text(
        f"""\
name = "live"
hpc_name = "Live test"
collection = "{os.environ.get("FLOWGEN_LIVE_COLLECTION", "")}"
base_path = "/flowcron-live-test"
title = "flowgen live test {uuid.uuid4().hex[:8]}"
""",
        encoding="utf-8",
    )
    return path


@pytest.fixture
def deployed(config: Path) -> Iterator[str]:
    session = open_session()
    result = deploy(session.flows(), prepare(config))
    assert result.flow_id is not None
    try:
        yield result.flow_id
    finally:
        session.flows().delete_flow(result.flow_id)


def test_deploy_is_idempotent_and_runs_start(config: Path, deployed: str) -> None:
    session = open_session()
    lock = read_lock(config.parent / "live.lock.json")
    assert lock is not None and lock.flow_id == deployed

    again = deploy(session.flows(), prepare(config))
    assert again.plan.is_empty and not again.applied
    assert drift(session.flows(), prepare(config)).is_empty

    body = flowcron_input(f"{os.environ['FLOWGEN_LIVE_COLLECTION']}:/flowgen-live/")
    run = start_run(session, deployed, body, label="flowgen live test")
    try:
        status = run_status(session.flows(), run["run_id"])
        assert status["status"] in ("ACTIVE", "INACTIVE", "SUCCEEDED", "FAILED")
    finally:
        session.flows().cancel_run(run["run_id"])

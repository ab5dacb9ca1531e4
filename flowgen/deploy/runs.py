"""Runs of a deployed flow: start, follow, list, read logs, resume.

A run is named by its flow either as a flow id or as the instance config
whose lock file records it, so a PI types ``flowgen run start
flows/mycluster.toml --source ...`` without copying ids around.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowgen.core.errors import FlowgenError, UsageError
from flowgen.core.exitcodes import ExitCode
from flowgen.deploy.lockfile import lock_path, read_lock

if TYPE_CHECKING:
    import globus_sdk

    from flowgen.deploy.auth import Session

FINAL = ("SUCCEEDED", "FAILED", "ENDED")
"""Statuses a run never leaves."""


class WatchTimeoutError(FlowgenError):
    """A watched run did not end before the deadline (it goes on; nothing failed)."""

    exit_code = ExitCode.STILL_RUNNING


def resolve_flow_id(target: str) -> str:
    """The flow id named by ``target``: a flow UUID, or an instance config with a lock file."""
    if target.endswith(".toml"):
        from flowgen.flowcron.config import load_config

        config = Path(target)
        name = load_config(config).name
        lock = read_lock(lock_path(config, name))
        if lock is None:
            raise UsageError(
                f"{config}: no lock file {lock_path(config, name)}; deploy it first with "
                f"'flowgen deploy {config}', or give the flow id"
            )
        return lock.flow_id
    try:
        return str(uuid.UUID(target))
    except ValueError:
        raise UsageError(
            f"{target!r} is neither a flow id nor an instance config (.toml)"
        ) from None


def flowcron_input(source: str, *, delete: bool = False) -> dict[str, Any]:
    """The FlowCron run input for ``COLLECTION:PATH`` (the folder path gets its final ``/``)."""
    collection, sep, path = source.partition(":")
    try:
        collection = str(uuid.UUID(collection))
    except ValueError:
        collection = ""
    if not sep or not collection or not path.startswith("/"):
        raise UsageError(
            f"--source {source!r}: write COLLECTION_UUID:/path/to/uow/ "
            "(the collection's id, a colon, and the folder's absolute path)"
        )
    folder = path if path.endswith("/") else path + "/"
    return {"input": {"source": {"id": collection, "path": folder}, "delete": delete}}


def start_run(
    session: Session, flow_id: str, body: dict[str, Any], *, label: str | None = None
) -> dict[str, Any]:
    """Check the input and the caller's Starter role with the service, then start the run."""
    from globus_sdk import MISSING

    client = session.specific_flow(flow_id)
    client.validate_run(body, label=label or MISSING)
    run = client.run_flow(body, label=label or MISSING)
    return dict(run.data)


def current_step(client: globus_sdk.FlowsClient, run_id: str) -> str | None:
    """The state the run is in or last left, from the newest run-log entry naming one."""
    logs = client.get_run_logs(run_id, limit=10, reverse_order=True)
    for entry in logs.get("entries", []):
        name = (entry.get("details") or {}).get("state_name")
        if name:
            return str(name)
    return None


def run_status(client: globus_sdk.FlowsClient, run_id: str) -> dict[str, Any]:
    """``{"run_id", "flow_id", "status", "label", "step", "details"}`` for one run."""
    run = client.get_run(run_id)
    return {
        "run_id": run["run_id"],
        "flow_id": run.get("flow_id"),
        "status": run["status"],
        "label": run.get("label"),
        "step": current_step(client, run_id),
        "details": (run.get("details") or {}).get("description") or "",
    }


@dataclass(frozen=True)
class Backoff:
    """How ``run status --watch`` polls: a growing wait, capped, with a deadline."""

    initial: float = 2.0
    growth: float = 1.5
    cap: float = 60.0
    deadline: float = 24 * 3600.0

    def waits(self) -> Iterator[float]:
        """Successive waits; stops once their sum would pass the deadline."""
        wait, spent = self.initial, 0.0
        while spent + wait <= self.deadline:
            yield wait
            spent += wait
            wait = min(wait * self.growth, self.cap)


def watch_run(
    client: globus_sdk.FlowsClient,
    run_id: str,
    *,
    backoff: Backoff = Backoff(),
    on_update: Callable[[dict[str, Any]], None] = lambda _: None,
    sleep: Callable[[float], None] | None = None,
) -> dict[str, Any]:
    """Poll until the run ends or waits for the user (INACTIVE); reports each change."""
    pause = sleep or time.sleep
    last: tuple[str, str | None] | None = None
    waits = backoff.waits()
    while True:
        status = run_status(client, run_id)
        if (status["status"], status["step"]) != last:
            on_update(status)
            last = (status["status"], status["step"])
        if status["status"] in FINAL or status["status"] == "INACTIVE":
            return status
        wait = next(waits, None)
        if wait is None:
            raise WatchTimeoutError(
                f"run {run_id} is still {status['status']} after {backoff.deadline:.0f} s; "
                f"follow it again with 'flowgen run status {run_id} --watch'"
            )
        pause(wait)


def outcome(status: dict[str, Any]) -> ExitCode:
    """The exit code for a run's status: 0 SUCCEEDED, 1 FAILED/ENDED, 4 waiting for consent."""
    if status["status"] == "SUCCEEDED":
        return ExitCode.OK
    if status["status"] == "INACTIVE":
        return ExitCode.AUTH
    if status["status"] in FINAL:
        return ExitCode.DIFFERENT
    return ExitCode.OK


def inactive_hint(run_id: str) -> str:
    """What to do about a run that waits (INACTIVE), usually for the user's consent."""
    return (
        f"The run is waiting for you (INACTIVE), usually for consent to a collection.\n"
        f"Give it at https://app.globus.org/runs/{run_id}, or run 'flowgen run resume {run_id}' "
        "at a terminal, which asks for the consent and resumes the run."
    )


def resume_run(session: Session, run_id: str) -> dict[str, Any]:
    """Resume an INACTIVE run (after the consent it waited for)."""
    flow_id = str(session.flows().get_run(run_id)["flow_id"])
    return dict(session.specific_flow(flow_id).resume_run(run_id).data)


def list_runs(client: globus_sdk.FlowsClient, flow_id: str | None = None) -> list[dict[str, Any]]:
    """The caller's runs (of one flow, when given), newest first, every page."""
    from globus_sdk import MISSING

    pages = client.paginated.list_runs(filter_flow_id=flow_id or MISSING)
    runs = [
        {
            "run_id": r["run_id"],
            "status": r.get("status"),
            "label": r.get("label"),
            "flow_title": r.get("flow_title"),
            "start_time": r.get("start_time"),
        }
        for r in pages.items()
    ]
    return sorted(runs, key=lambda r: str(r["start_time"] or ""), reverse=True)


def run_logs(client: globus_sdk.FlowsClient, run_id: str) -> list[dict[str, Any]]:
    """Every log entry of a run, oldest first: ``{"time", "code", "state", "description"}``."""
    entries = client.paginated.get_run_logs(run_id).items()
    return [
        {
            "time": e.get("time"),
            "code": e.get("code"),
            "state": (e.get("details") or {}).get("state_name"),
            "description": e.get("description"),
        }
        for e in entries
    ]

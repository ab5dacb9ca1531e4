"""The HPC agent as a simulator hook: the complete FlowCron loop on one machine.

:class:`AgentDriver` runs the agent's tick (:func:`hpc_agent.loop.tick.tick`) for
one instance every ``tick_every`` seconds of simulated time, in-process, as
cron would run it on the login node::

    driver = AgentDriver(load_agent_instance("/srv/hpc/example"), on_event=print)
    result = simulate(definition, run_input, collections=..., hooks=[driver.hook()])

The time model. Flow time is virtual and jumps; jobs are real processes
(the ``local`` executor or Slurm) that take real seconds. Letting virtual
time run freely would make the flow poll for days of flow time while a
one-second job runs, and hit its deadline before a one-minute job ends. So,
by default, the driver *holds* virtual time: while any Unit of Work of the
instance is in ``CodeToRun/slurm/`` (admitted, its job queued or running, or
not yet handed back), the hook does not return; it sleeps ``hold_poll`` real
seconds and ticks again until that directory is empty. The flow therefore
sees a job take (almost) no flow time, never sees time run ahead of a real
job, and notices the end at its next poll. Holding is bounded by
``hold_limit`` wall seconds per hook call; past it :class:`AgentHoldTimeout`
ends the simulation with the UoWs still running and where to look.
``hold=False`` lets virtual time run past real jobs (an agent whose jobs
outlive the flow's deadline, for instance).

A tick over an idle instance (nothing in ``UploadedFiles/`` or
``CodeToRun/slurm/``) would do nothing but retention, whose clocks are real
days, so the driver skips it after a cheap directory scan: a 24-hour wait
with no jobs costs two ``scandir`` calls per simulated minute.

The agent keeps its own real clock (``now=None``): its records, reports and
log carry real times, because its jobs and files are real.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from flowgen.core.errors import FlowgenError, UsageError
from flowgen.core.exitcodes import RUN_FAILED
from flowgen.simulate.clock import PeriodicHook
from hpc_agent import protocol
from hpc_agent.config import ConfigError, InstanceConfig, load_instance, save_instance
from hpc_agent.invocation import agent_command
from hpc_agent.loop.tick import TickResult, tick
from hpc_agent.uow.report import read_report

DEFAULT_TICK_EVERY = 60.0
"""Simulated seconds between agent ticks (a cron entry every minute)."""

DEFAULT_HOLD_POLL = 0.5
"""Real seconds between ticks while virtual time is held for running jobs."""

DEFAULT_HOLD_LIMIT = 3600.0
"""Real seconds one hook call may hold virtual time before the simulation stops."""

TickRunner = Callable[[InstanceConfig], TickResult]
"""Runs one tick over an instance (in-process by default; see :func:`subprocess_tick`)."""

EventListener = Callable[["AgentEvent"], None]


class AgentHoldTimeout(FlowgenError):
    """Real jobs did not finish within the hold limit; the simulation was stopped."""

    exit_code = RUN_FAILED


@dataclass(frozen=True)
class AgentEvent:
    """Something the agent did, seen from the simulator.

    ``kind`` is one of ``admitted``, ``submitted``, ``job-state``,
    ``finished``, ``tick-failed``. ``time`` is the simulated time of the
    tick (it stays the same while virtual time is held).
    """

    time: datetime
    kind: str
    uow: str
    message: str
    job_id: str | None = None
    state: str | None = None


def load_agent_instance(ref: str | Path) -> InstanceConfig:
    """Load an agent instance by base directory or registered name, as a flowgen error.

    The agent's own ConfigError is not a flowgen error; this wraps it so the
    CLI shows the message and exits 2.
    """
    try:
        return load_instance(ref)
    except ConfigError as exc:
        raise UsageError(f"--hpc-agent {ref}: {exc}") from None


def create_instance(
    base_dir: Path, name: str, *, executor: str = "local", **settings: Any
) -> InstanceConfig:
    """A throw-away agent instance for simulations: its directories and ``flowcron.toml``.

    Unlike ``hpc-agent setup`` it writes no registry entry and installs no
    schedule: the simulator is the agent's only driver. ``settings`` are any
    other :class:`~hpc_agent.config.InstanceConfig` fields.
    """
    base_dir.mkdir(parents=True, exist_ok=True)
    try:
        cfg = InstanceConfig(
            name=name,
            base_dir=base_dir.resolve(),
            executor=executor,
            schedule="none",
            **settings,
        )
    except ConfigError as exc:
        raise UsageError(f"agent instance {base_dir}: {exc}") from None
    for sub in protocol.INSTANCE_DIRS:
        cfg.path(sub).mkdir(parents=True, exist_ok=True)
    save_instance(cfg)
    return cfg


def subprocess_tick(
    cfg: InstanceConfig, *, env: Mapping[str, str] | None = None, timeout: float = 300.0
) -> TickResult:
    """Run ``hpc-agent tick BASE`` in a fresh process, as cron does.

    The agent is started as :func:`hpc_agent.invocation.agent_command` says,
    so a checkout and an installed wheel both work.

    ``env`` adds environment variables (``FLOWCRON_CRASH_AT`` to kill the
    agent mid-way). A tick killed by a signal gives a negative exit code.
    """
    agent = agent_command("tick", str(cfg.base_dir))
    started = time.monotonic()
    done = subprocess.run(
        agent.argv,
        capture_output=True,
        text=True,
        env=agent.env({**os.environ, **(env or {})}),
        timeout=timeout,
        check=False,
    )
    message = (done.stderr or done.stdout).strip()
    if done.returncode < 0:
        message = f"killed by signal {-done.returncode}" + (f": {message}" if message else "")
    return TickResult(
        exit_code=done.returncode, message=message, seconds=time.monotonic() - started
    )


def _dir_names(directory: Path) -> set[str]:
    try:
        with os.scandir(directory) as entries:
            return {e.name for e in entries if not e.name.startswith(".") and e.is_dir()}
    except FileNotFoundError:
        return set()


@dataclass
class _Seen:
    """What the driver last reported about one UoW."""

    admitted: bool = False
    job_id: str | None = None
    state: str | None = None
    finished: bool = False


@dataclass
class AgentDriver:
    """Runs an agent instance's tick from the simulator's clock (see the module docstring)."""

    cfg: InstanceConfig
    tick_every: float = DEFAULT_TICK_EVERY
    hold: bool = True
    hold_poll: float = DEFAULT_HOLD_POLL
    hold_limit: float = DEFAULT_HOLD_LIMIT
    runner: TickRunner = tick
    on_event: EventListener | None = None
    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    ticks: int = 0
    """Ticks run so far."""
    idle_skips: int = 0
    """Due ticks skipped because the instance had nothing to do."""
    held_seconds: float = 0.0
    """Real seconds spent holding virtual time."""
    events: list[AgentEvent] = field(default_factory=list)
    _seen: dict[str, _Seen] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.tick_every > 0:
            raise UsageError(f"--tick-every must be positive, got {self.tick_every}")
        if not self.hold_poll > 0 or not self.hold_limit > 0:
            raise UsageError("the hold poll interval and the hold limit must be positive")

    def hook(self) -> PeriodicHook:
        """The periodic hook to pass to ``simulate(hooks=...)``."""
        return PeriodicHook(self.tick_every, self)

    def running(self) -> set[str]:
        """UoWs admitted and not yet handed back (in ``CodeToRun/slurm/``)."""
        return _dir_names(self.cfg.path(protocol.RUNNING))

    def __call__(self, now: datetime) -> None:
        """Tick once, then (when holding) keep ticking until no job is left running."""
        uploaded = _dir_names(self.cfg.path(protocol.UPLOADED))
        if not uploaded and not self.running():
            if any(not seen.finished for seen in self._seen.values()):
                self._report(now)  # handed back since the last look (without holding)
            self.idle_skips += 1
            return
        for name in uploaded:
            self._seen.setdefault(name, _Seen())
        started = self.monotonic()
        while True:
            self._tick(now)
            running = self.running()
            if not running:
                # The fast hand-back runs beside the tick: a job can be handed back
                # after the tick's report looked at CodeToRun/slurm. Report it now,
                # before the flow (which may see it at once) copies it away.
                self._report(now)
            if not self.hold or not running:
                break
            waited = self.monotonic() - started
            if waited >= self.hold_limit:
                self.held_seconds += waited
                raise AgentHoldTimeout(self._hold_message(running, waited))
            self.sleep(self.hold_poll)
        self.held_seconds += self.monotonic() - started

    def _tick(self, now: datetime) -> None:
        # Known before the tick: with the fast hand-back a short job can be admitted,
        # run and handed back before this driver looks again, so an upload is never
        # seen in CodeToRun/slurm; its hand-back must still be reported.
        for name in _dir_names(self.cfg.path(protocol.UPLOADED)):
            self._seen.setdefault(name, _Seen())
        result = self.runner(self.cfg)
        self.ticks += 1
        if result.exit_code != 0:
            self._emit(
                now,
                "tick-failed",
                "",
                f"agent tick ended with exit code {result.exit_code}"
                + (f": {result.message}" if result.message else "")
                + "; the next tick carries on",
            )
        self._report(now)

    def _report(self, now: datetime) -> None:
        """Turn the instance's state into events, one per change."""
        from hpc_agent.loop.state import StateStore

        running = self.running()
        records = StateStore(self.cfg.base_dir).all_records() if running else {}
        states = self._job_states(records) if self.on_event is not None else {}
        for name in sorted(running):
            seen = self._seen.setdefault(name, _Seen())
            record = records.get(name)
            if not seen.admitted:
                seen.admitted = True
                self._emit(now, "admitted", name, f"admitted {name}")
            job_id = record.job_id if record else None
            if job_id and job_id != seen.job_id:
                seen.job_id = job_id
                self._emit(
                    now, "submitted", name, f"submitted {name} as job {job_id}", job_id=job_id
                )
            state = states.get(job_id or "")
            if state and state != seen.state:
                seen.state = state
                self._emit(now, "job-state", name, f"job {job_id} {state}", job_id, state)
        for name, seen in sorted(self._seen.items()):
            if seen.finished or name in running:
                continue
            for directory in protocol.FINISHED_DIRS:
                path = self.cfg.path(directory) / name
                if path.is_dir() and protocol.is_finished(_dir_names(path)):
                    seen.finished = True
                    if not seen.admitted:
                        seen.admitted = True
                        self._emit(now, "admitted", name, f"admitted {name}")
                    self._emit_finished(now, name, directory, path, seen)
                    break

    def _job_states(self, records: Mapping[str, Any]) -> dict[str, str]:
        """The scheduler's state of every recorded job (one batched query; progress only)."""
        ids = [r.job_id for r in records.values() if r.job_id]
        if not ids:
            return {}
        from hpc_agent.executors import make_executor
        from hpc_agent.executors.base import ExecutorError

        executor = make_executor(self.cfg)
        try:
            return {job: info.state for job, info in executor.query(ids).items()}
        except ExecutorError:
            return {}

    def _emit_finished(
        self, now: datetime, name: str, directory: str, path: Path, seen: _Seen
    ) -> None:
        report = read_report(path) or {}
        outcome = report.get("outcome") or "finished"
        state = report.get("state")
        detail = ", ".join(
            str(part)
            for part in (
                outcome,
                state and f"Slurm state {state}",
                report.get("exit_code") and f"exit code {report['exit_code']}",
            )
            if part
        )
        self._emit(
            now,
            "finished",
            name,
            f"handed {name} back into {directory}/ ({detail})",
            job_id=report.get("job_id") or seen.job_id,
            state=state or outcome,
        )

    def _emit(
        self,
        now: datetime,
        kind: str,
        uow: str,
        message: str,
        job_id: str | None = None,
        state: str | None = None,
    ) -> None:
        event = AgentEvent(now, kind, uow, message, job_id, state)
        self.events.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _hold_message(self, running: set[str], waited: float) -> str:
        names = ", ".join(sorted(running))
        return (
            f"the agent's jobs did not finish within {waited:.0f} s of real time (the hold "
            f"limit is {self.hold_limit:.0f} s), so the simulation stopped with flow time held "
            f"at the tick that started them. Still in {self.cfg.path(protocol.RUNNING)}/: "
            f"{names}. See `hpc-agent status {self.cfg.base_dir}`; raise the limit "
            "(--hold-limit) for longer jobs."
        )

"""The tick: one level-triggered pass of the reconcile loop over an instance.

Every tick looks at every Unit of Work where it lies and advances it as far as
it can, remembering nothing between ticks except the durable job records of
:mod:`hpc_agent.loop.state`. :func:`tick` checks the instance layout
(:mod:`hpc_agent.site.layout`), takes the lock, and :meth:`Reconciler.run`
runs the steps in this order, each in its own module:

0. ping: one cheap call; when the scheduler cannot be reached the tick logs
   it and exits with :data:`~hpc_agent.exitcodes.EXIT_SCHEDULER_DOWN`
   without moving anything;
1. load (:mod:`hpc_agent.loop.load`): records and folders in
   ``CodeToRun/slurm/`` are matched, and mismatches a crash or a person left
   are repaired;
2. outcome (:mod:`hpc_agent.loop.outcome`): ONE batched scheduler query for
   every recorded job, each answer judged by the one outcome rule
   (:func:`hpc_agent.uow.record.judge`: success only for COMPLETED with exit
   code 0:0; a job the scheduler no longer knows after
   ``unknown_job_grace_seconds`` is a failure);
3. admit (:mod:`hpc_agent.loop.admit_phase`): each ready upload is admitted,
   its prepared script copy and record written, then it is moved with one
   atomic rename into ``CodeToRun/slurm/`` (a rejected one too, to be
   finalized into ``FailedJobs/``);
4. submit (:mod:`hpc_agent.loop.submit`), overlapping admission: each admitted
   UoW is handed at once to ``submit_workers`` threads; intent recorded, then
   sbatch, then the job id recorded before anything else; a UoW whose intent
   was recorded but whose job id was not (a crash) is first looked up by its
   unique job name, so it is never submitted twice;
5. hand-back (:mod:`hpc_agent.loop.handback`): see :mod:`hpc_agent.uow.finalize`;
6. retention: see :mod:`hpc_agent.uow.retention`;
7. the PI's page (:mod:`hpc_agent.loop.pi_report`): ``Logs/report.html``
   refreshed at most once an hour, only with ``html_report = true``;

then the ledger is saved and the heartbeat written (:func:`record_health`).
The steps share a :class:`~hpc_agent.loop.context.TickContext`; the moves of
a job record between phases are :mod:`hpc_agent.uow.record`'s.

The scheduler is called a constant number of times per tick (the ping, one
query, at most two name look-ups after an interrupted tick, plus one sbatch
per new UoW), whatever the number of UoWs. A second tick that finds the instance busy exits at once
(exit code 0).
"""

from __future__ import annotations

import time

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.base import Executor, ExecutorError, SchedulerUnavailable
from hpc_agent.exitcodes import EXIT_FAILED, EXIT_SCHEDULER_DOWN
from hpc_agent.loop import health
from hpc_agent.loop.admit_phase import admit_uploads
from hpc_agent.loop.context import TickContext, TickResult
from hpc_agent.loop.eventlog import EventLog
from hpc_agent.loop.handback import finalize_all
from hpc_agent.loop.load import load
from hpc_agent.loop.lock import InstanceLock, LeaseLost
from hpc_agent.loop.outcome import query_outcomes
from hpc_agent.loop.pi_report import refresh_html_report
from hpc_agent.loop.submit import submitting
from hpc_agent.site.layout import layout_problems, log_refusal
from hpc_agent.uow.finalize import Agent, tell_the_pi
from hpc_agent.uow.retention import apply_retention


def tick(
    cfg: InstanceConfig, executor: Executor | None = None, *, now: float | None = None
) -> TickResult:
    """Run one pass of the reconcile loop over instance ``cfg``.

    ``executor`` defaults to the instance's configured one; ``now`` (seconds
    since the epoch) is for tests. Never raises for a scheduler outage: the
    result's exit code says so.
    """
    started = time.monotonic()
    problems = layout_problems(cfg)
    if problems:
        # The one layout check of the tick, before the lock, the state directory
        # or the heartbeat are touched: with CodeToRun/ a symlink, even those
        # writes would land outside the instance, and through a symlinked
        # instance directory every rename, chmod and delete would too.
        log = EventLog(cfg.path(protocol.LOGS), cfg.name)
        return TickResult(
            exit_code=EXIT_FAILED, message=log_refusal(cfg, log, problems, "the tick")
        )
    agent = Agent.open(cfg, now=now)
    lock = InstanceLock(cfg.base_dir, cfg.lease_timeout_seconds)
    if not lock.acquire(now=agent.now):
        holder = lock.holder.describe(agent.now) if lock.holder else "another agent"
        agent.log.write(
            "tick-skipped", f"another agent is working on this instance ({holder}); nothing to do"
        )
        return TickResult(ran=False, message=f"busy: {holder}")
    try:
        # Read again now that we hold the lock: another agent may have written it since.
        agent.ledger.load()
        if lock.took_over is not None and lock.took_over.host != lock.host:
            agent.log.write(
                "lease-taken-over",
                f"took over a stale lease ({lock.took_over.describe(agent.now)})",
                level="warning",
            )
        beat = health.begin(cfg.base_dir, time.time())
        if executor is None:
            from hpc_agent.executors import make_executor

            executor = make_executor(cfg)
        reconciler = Reconciler(agent, executor, lock)
        try:
            result = reconciler.run()
        except LeaseLost as exc:
            # Another host has the instance now (this tick paused or ran past the
            # lease timeout): stop before any further change, the ledger included.
            agent.log.write(
                "lease-lost",
                f"{exc}; this tick stopped before its next change, the holder carries on",
                level="error",
                holder=exc.holder.host if exc.holder is not None else None,
                holder_pid=exc.holder.pid if exc.holder is not None else None,
            )
            result = reconciler.result
            result.exit_code = EXIT_FAILED
            result.message = f"lease lost: {exc}"
        else:
            # Not after a lost lease: the heartbeat is the new holder's to write.
            record_health(agent, beat, result)
    finally:
        lock.release()
    result.seconds = time.monotonic() - started
    return result


def record_health(agent: Agent, beat: health.Heartbeat, result: TickResult) -> None:
    """End the tick's heartbeat; tell the PI once when ticks have failed too often in a row."""
    counts = {
        "admitted": len(result.admitted),
        "rejected": len(result.rejected),
        "submitted": len(result.submitted),
        "finished": len(result.finished),
        "errors": result.errors,
    }
    beat = health.end(
        agent.cfg.base_dir,
        beat,
        now=time.time(),
        exit_code=result.exit_code,
        message=result.message,
        counts=counts,
    )
    cfg = agent.cfg
    # Once per run of failures (a killed tick counts too, in health.begin),
    # not on every tick; a success starts the count again.
    if (
        cfg.notify_command
        and not beat.notified
        and beat.failures_in_a_row >= cfg.notify_after_failures
    ):
        subject = f"FlowCron {cfg.name}: {beat.failures_in_a_row} ticks in a row failed"
        body = (
            f"The FlowCron agent of instance '{cfg.name}' ({cfg.base_dir}) on {beat.host} "
            f"has failed {beat.failures_in_a_row} ticks in a row. Last: exit code "
            f"{beat.exit_code}, {beat.message or 'no message'}.\n"
            f"See `hpc-agent status {cfg.name}`, `hpc-agent doctor {cfg.name}` and "
            f"`hpc-agent logs {cfg.name} --since 1d`.\n"
        )
        tell_the_pi(agent, subject, body)
        beat.notified = True
        health.write_heartbeat(agent.cfg.base_dir, beat)


class Reconciler(TickContext):
    """One tick's work, step by step (see the module docstring)."""

    def run(self) -> TickResult:
        """All steps, in order; a scheduler outage stops the tick where it happens.

        The caller, :func:`tick`, has checked the instance layout.
        """
        self.running_dir.mkdir(parents=True, exist_ok=True)
        try:
            # Before anything moves: an outage found later (at sbatch) would leave a
            # new upload renamed into CodeToRun/slurm with no job behind it.
            self.executor.ping()
            self.result.scheduler_queries += 1
            self.lock.renew()  # the ping may have hung: still ours before load() changes things
            load(self)
            query_outcomes(self)
            self.lock.renew()
            # Each UoW is submitted as soon as it is admitted, by submit_workers threads.
            with submitting(self) as submitter:
                admit_uploads(self, submitter)
        except SchedulerUnavailable as exc:
            return self._stop(
                exc,
                "scheduler-unavailable",
                f"the scheduler cannot be reached ({exc}); the tick stopped without moving "
                "anything further, the next tick carries on",
                EXIT_SCHEDULER_DOWN,
                f"scheduler unavailable: {exc}",
            )
        except ExecutorError as exc:
            # An answer the agent cannot use (unexpected output, an odd error):
            # stop the same way; a UoW caught mid-submission is looked up by
            # name next time, so nothing is lost or submitted twice.
            return self._stop(
                exc,
                "scheduler-error",
                f"the scheduler gave an answer the agent cannot use ({exc}); the tick "
                "stopped without moving anything further, the next tick tries again",
                EXIT_FAILED,
                f"scheduler error: {exc}",
            )
        self.lock.renew()
        finalize_all(self)
        self.lock.renew()
        self.result.retention = apply_retention(self.agent)
        self.agent.ledger.save()
        refresh_html_report(self)
        if self.result.errors:
            self.result.exit_code = EXIT_FAILED
            self.result.message = (
                f"{self.result.errors} Unit(s) of Work had an error (see the log); "
                "the others went on"
            )
        return self.result

    def _stop(
        self, exc: Exception, event: str, message: str, exit_code: int, summary: str
    ) -> TickResult:
        """End the tick early on a scheduler problem: log it, keep the ledger, say why."""
        self.log.write(event, message, level="error", error=str(exc))
        self.agent.ledger.save()
        self.result.exit_code = exit_code
        self.result.message = summary
        return self.result


__all__ = ["Reconciler", "TickResult", "record_health", "tick"]

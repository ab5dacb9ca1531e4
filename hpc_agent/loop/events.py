"""Every event name the agent writes to its log, with its level and meaning, in one table.

Event names are an interface: admins filter ``Logs/`` on them (``jq
'select(.event == "finalized")'``), and the report and usage code read them
back. So a name is never renamed or reused for a different meaning, and
:class:`~hpc_agent.loop.eventlog.EventLog` refuses a name that is not listed
here. ``docs/agent.md`` ("Event names") shows the same table; a test keeps the
two, and the names used in the source, in step.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Event:
    """One event name: the level(s) it is written at and what it means, in one line."""

    name: str
    levels: tuple[str, ...]
    meaning: str


INFO = ("info",)
WARN = ("warning",)
ERROR = ("error",)

_TABLE: tuple[Event, ...] = (
    # The tick as a whole.
    Event("tick-skipped", INFO, "another agent holds the instance's lock; this tick did nothing"),
    Event("lease-taken-over", WARN, "this tick took over a lease its holder had stopped renewing"),
    Event(
        "lease-lost", ERROR, "another host took the lease during this tick, which stopped at once"
    ),
    Event(
        "scheduler-unavailable", ERROR, "the scheduler could not be reached; the tick stopped early"
    ),
    Event(
        "scheduler-error", ERROR, "the scheduler gave an unusable answer; the tick stopped early"
    ),
    Event("tick-crashed", ERROR, "the tick raised an unexpected error; the next tick tries again"),
    Event(
        "layout-refused", ERROR, "an instance folder is a symlink or not a folder; nothing was done"
    ),
    Event("uow-error", ERROR, "one UoW's step failed unexpectedly; the other UoWs went on"),
    # Records and the ledger.
    Event("ledger-corrupt", ERROR, "the retention ledger was unreadable and was moved aside"),
    Event("record-corrupt", ERROR, "a job record was unreadable, moved aside and rebuilt"),
    Event("record-rebuilt", WARN, "a UoW in CodeToRun/slurm had no job record; one was rebuilt"),
    Event("uow-put-back", WARN, "a UoW folder was moved while its job ran; the agent put it back"),
    # Admission.
    Event("admitted", INFO, "an upload passed admission and moved into CodeToRun/slurm"),
    Event("rejected", WARN, "an upload failed admission and goes to FailedJobs with a report"),
    Event("name-in-use", WARN, "an upload waits: a UoW of the same name is still running"),
    Event(
        "html-report-failed",
        WARN,
        "the hourly Logs/report.html could not be written; the tick went on",
    ),
    Event(
        "held-by-limit",
        INFO,
        "an upload waits in UploadedFiles for an admission limit (once per UoW and limit)",
    ),
    Event("admit-move-failed", ERROR, "an admitted upload could not be moved; it is tried again"),
    Event(
        "function-broken",
        ERROR,
        "a UoW called a published function that is broken; refused (once per tick per function)",
    ),
    # Submission and the job's life.
    Event("submitted", INFO, "the UoW's job was submitted to the scheduler"),
    Event("submit-recovered", WARN, "an interrupted submission's job was found by its job name"),
    Event("submit-rejected", ERROR, "the scheduler refused the job; the UoW is failed"),
    Event("job-ended", INFO, "the scheduler reports the UoW's job finished (state, exit code)"),
    Event(
        "job-unknown", WARN, "the scheduler does not know the job yet; failed after a grace period"
    ),
    Event("job-vanished", ERROR, "the job stayed unknown to the scheduler; the UoW is failed"),
    Event(
        "job-lost",
        (*WARN, *ERROR),
        "Slurm reused the job's id, so lost it: resubmitted once (warning), then failed",
    ),
    Event("cancelled", INFO, "the UoW's job was cancelled by `hpc-agent cancel`"),
    Event(
        "cancel-too-late", WARN, "a cancel came after the job had ended; its real outcome stands"
    ),
    # Hand-back.
    Event("finalize-job-submitted", INFO, "a finalize job was queued to run after the UoW's job"),
    Event("finalize-job-failed", WARN, "the finalize job could not be queued; the tick finalizes"),
    Event("finalize-skipped", INFO, "a finalize job found the UoW already finalized"),
    Event(
        "finalize-deferred", INFO, "a finalize job found the job still running; the tick finalizes"
    ),
    Event(
        "finalize-warning", WARN, "something worth knowing while handing a UoW back (permissions)"
    ),
    Event(
        "finalize-failed", ERROR, "handing a UoW back failed; nothing was lost, it is tried again"
    ),
    Event(
        "finalized", (*INFO, *WARN), "the UoW was handed back (info if it succeeded, else warning)"
    ),
    Event("uow-missing", ERROR, "a UoW left CodeToRun/slurm by other means; the agent forgets it"),
    Event("uow-stuck", ERROR, "a UoW could not be moved for stuck_report_seconds; the PI is told"),
    Event("stuck-list-failed", WARN, "the list of stuck UoWs could not be saved"),
    Event("notified", WARN, "notify_command told the PI about a problem"),
    Event("notify-failed", ERROR, "notify_command failed, so the PI was not told"),
    Event("retry", INFO, "`hpc-agent retry` sent a failed UoW back to UploadedFiles"),
    # Retention.
    Event("retention-refused", ERROR, "retention did nothing because of the instance layout"),
    Event("recycled", INFO, "a finished UoW past soft_delete_days moved to the recycling bin"),
    Event("recycle-failed", ERROR, "a UoW could not be moved to the recycling bin; tried again"),
    Event("deleted", INFO, "a UoW past hard_delete_days in the recycling bin was deleted"),
    Event("delete-failed", ERROR, "a UoW in the recycling bin could not be deleted; tried again"),
    Event("stray-quarantined", WARN, "files in CodeToRun/slurm that are no UoW were moved aside"),
    Event("stray-quarantine-failed", ERROR, "stray files could not be moved aside; tried again"),
)

EVENTS: Mapping[str, Event] = MappingProxyType({event.name: event for event in _TABLE})
"""Every event name, in the order above: name -> :class:`Event`."""


def check_event(name: str) -> Event:
    """The catalogue entry for ``name``; ValueError when it is not listed.

    >>> check_event("submitted").levels
    ('info',)
    """
    try:
        return EVENTS[name]
    except KeyError:
        raise ValueError(
            f"{name!r} is not an event name in hpc_agent/loop/events.py; add it there "
            "and to the table in docs/agent.md"
        ) from None


__all__ = ["EVENTS", "Event", "check_event"]

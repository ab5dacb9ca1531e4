"""The usage fields of a finished UoW's ledger entry, written once at hand-back.

The ledger (:class:`hpc_agent.loop.state.Ledger`) keys each finished item
``"<dir>/<name>"`` with ``at`` (when it arrived there: retention counts from
it). Finalize adds what ``hpc-agent usage`` and the HTML report need, so they
work after Slurm (and the job record) forgot the job:

=============  ================================================================
``uow``        the UoW's name (also in entries written before usage existed)
``job_id``     the job id sbatch printed (None: never submitted)
``user``       who started the run (:attr:`JobRecord.user`, ``unknown`` without one)
``function``   the published function's name, else ``script:<file name>``
``outcome``    ``succeeded``, ``failed`` or ``rejected`` (never run)
``state``      Slurm's final state (``COMPLETED``, ``TIMEOUT``...), None when not run
``reason``     why it failed, in a sentence (at most :data:`REASON_MAX` characters)
``admitted``   when admission renamed it into ``CodeToRun/slurm/`` (epoch seconds)
``submitted``  when sbatch returned its job id
``started``    when Slurm started it (None: never started)
``ended``      when Slurm says it ended
``finished``   when it was handed back (kept when retention moves the entry)
``bytes``      bytes of the regular files handed back, without the report (None: not counted)
=============  ================================================================

Older entries lack these fields; readers treat every one as optional
(:func:`hpc_agent.usage.figures.item_from_entry`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.executors.slurm import slurm_time_epoch
from hpc_agent.loop.state import SUCCEEDED, JobRecord

REASON_MAX: Final = 300
"""A reason longer than this is cut (the full one is in the UoW's report)."""
USAGE_FIELDS: Final = (
    "user",
    "function",
    "outcome",
    "state",
    "reason",
    "admitted",
    "submitted",
    "started",
    "ended",
    "finished",
    "bytes",
)
"""The fields retention carries over when it moves an entry (``uow`` and ``job_id`` too)."""
REJECTED: Final = "rejected"
FAILED: Final = "failed"


def outcome_of(record: JobRecord) -> str:
    """``succeeded``, ``failed`` or ``rejected`` (admission refused it; nothing ran)."""
    if record.outcome == SUCCEEDED:
        return SUCCEEDED
    if record.problems:
        return REJECTED
    return FAILED


def what_ran(record: JobRecord, uow_dir: Path | None) -> str:
    """The published function's name, else ``script:<name>`` of the job script in ``scripts/``."""
    function = record.function
    if isinstance(function, dict) and isinstance(function.get("name"), str):
        return str(function["name"])
    name = protocol.SUBMISSION_SCRIPT
    if uow_dir is not None and not (uow_dir / protocol.SCRIPTS_DIR / name).is_file():
        from hpc_agent.uow.admission import choose_script  # admission imports much; only here

        script, _ = choose_script(uow_dir / protocol.SCRIPTS_DIR)
        name = script.name if script is not None else "?"
    return f"script:{name}"


def usage_fields(
    record: JobRecord, *, uow_dir: Path | None, finished: float, handed_back: int | None
) -> dict[str, Any]:
    """The usage fields of ``record``'s ledger entry (see the module docstring)."""
    job = record.job or {}
    reason = record.reason or ("; ".join(record.problems) if record.problems else None)
    if reason is not None and len(reason) > REASON_MAX:
        reason = reason[: REASON_MAX - 1] + "…"
    started = slurm_time_epoch(_text(job.get("start_time")))
    return {
        "user": record.user,
        "function": what_ran(record, uow_dir),
        "outcome": outcome_of(record),
        "state": _text(job.get("state")),
        "reason": reason,
        "admitted": record.admitted_at or None,
        "submitted": record.sbatch_returned_at or record.submitted_at,
        "started": started,
        "ended": slurm_time_epoch(_text(job.get("end_time"))) if started is not None else None,
        "finished": finished,
        "bytes": handed_back,
    }


def carried(entry: object) -> dict[str, Any]:
    """The usage fields (and ``uow``, ``job_id``) of a ledger entry, for its new key."""
    if not isinstance(entry, dict):
        return {}
    keep = ("uow", "job_id", *USAGE_FIELDS)
    return {key: entry[key] for key in keep if key in entry}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None

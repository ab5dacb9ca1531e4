"""Durable per-UoW job records and the ledger of finished items.

The tick is level-triggered: it keeps nothing in memory between runs. What it
must not forget (that it admitted a UoW, that it is about to call sbatch, the
job id sbatch returned, the outcome it decided, when it put a UoW into a
finished directory) is written here, always to a temporary file first and then
renamed into place, so a crash leaves either the old record or the new one,
never half of one.

Layout, under ``<base>/CodeToRun/.state/``:

* ``jobs/<key>.json``: one :class:`JobRecord` per UoW in ``CodeToRun/slurm/``
  (``<key>`` is the UoW's name, or a hash for names that cannot be a file
  name here: :func:`state_key`);
* ``scripts/<key>.sh``: the prepared copy of the job script that is submitted
  (the user's file is never edited);
* ``corrupt/``: state files that could not be read, moved aside;
* ``finished.json``: the :class:`Ledger`, when each item entered
  ``AnalysedFiles/``, ``FailedJobs/`` or ``RecyclingBin/`` (retention counts
  from these times, not from file mtimes, which transfers preserve);
* ``slurm-accounting.json``: whether the cluster keeps accounting, learnt
  from the status query and trusted for an hour
  (:class:`~hpc_agent.executors.slurm.SlurmExecutor`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.fs.atomicio import write_text_atomic

STATE_DIR: Final = ".state"
JOBS_DIR: Final = "jobs"
SCRIPTS_DIR: Final = "scripts"
LEDGER_FILE: Final = "finished.json"
CORRUPT_DIR: Final = "corrupt"
"""Unreadable state files are moved here, never deleted."""
NAME_MAX: Final = 255
"""The longest file name (in bytes) the file systems FlowCron runs on allow."""
LONGEST_STATE_SUFFIX: Final = ".finalize.sh.XXXXXXXX.tmp."
"""The longest ending a state file name gets (a temporary file of the finalize script)."""

# Phases of a UoW in CodeToRun/slurm, in order.
ADMITTED: Final = "admitted"
"""Admitted (or rejected) and renamed into CodeToRun/slurm; nothing submitted."""
SUBMITTING: Final = "submitting"
"""About to call sbatch: after a crash, look the job up by name before resubmitting."""
SUBMITTED: Final = "submitted"
"""The job id is recorded; the outcome comes from the batched query."""
FINALIZING: Final = "finalizing"
"""The outcome is decided; finalize (idempotently) until the UoW is handed back."""

SUCCEEDED: Final = "succeeded"
FAILED: Final = "failed"


@dataclass
class JobRecord:
    """What the agent knows about one UoW in ``CodeToRun/slurm/``.

    Times are seconds since the epoch. ``job`` holds the scheduler's last
    answer about a finished job (JobInfo's fields), kept so the report can be
    written again after a crash even once the scheduler has forgotten the job.

    ``sbatch_returned_at`` is this host's clock when sbatch returned the job
    id (``submitted_at`` is the tick's start). ``slurm_submit_epoch`` is the
    submit time Slurm gave the job, once the agent saw the job under its name
    (a later job holding the same id proves this one was lost; see
    :func:`hpc_agent.executors.base.claim`). ``tasks_seen`` keeps each array task or heterogeneous
    component seen so far, with its outcome once it ended (None before): the
    controller forgets a finished task ``MinJobAge`` seconds after it ended,
    even while the other tasks still run. ``lost_jobs`` lists the jobs Slurm
    lost (id, why, when), and ``resubmissions`` how often the UoW was
    submitted again because of that.
    """

    uow: str
    phase: str = ADMITTED
    source: str = ""
    admitted_at: float = 0.0
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    script_sha256: str | None = None
    job_name: str | None = None
    job_id: str | None = None
    finalize_job_id: str | None = None
    submit_intent_at: float | None = None
    submitted_at: float | None = None
    unknown_since: float | None = None
    outcome: str | None = None
    reason: str | None = None
    job: dict[str, Any] | None = None
    destination: str | None = None
    sbatch_returned_at: float | None = None
    slurm_submit_epoch: float | None = None
    tasks_seen: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    lost_jobs: list[dict[str, Any]] = field(default_factory=list)
    resubmissions: int = 0
    token: str | None = None
    """Written into the UoW's marker file (:data:`protocol.UOW_MARKER`) at admission."""
    moved: str | None = None
    """What a person (or the job) did to the UoW's folder while it ran, once put right."""
    function: dict[str, Any] | None = None
    """For a UoW that called a published function: its name, version, files' hash
    (``sha256``), the validated ``params`` and the ``resources`` asked for
    (:meth:`hpc_agent.functions.call.FunctionCall.describe`). None for a UoW that
    brought its own script, and in records written before functions existed."""
    user: str = "unknown"
    """Who started the run (:mod:`hpc_agent.uow.starter`); ``unknown`` without a marker
    and in records written before starters were recorded."""
    uow_bytes: int | None = None
    """The UoW's size in bytes at admission, measured only while ``max_uow_bytes_per_user``
    is set (:mod:`hpc_agent.loop.fairness`); None otherwise."""
    waited_for_limit_seconds: float | None = None
    """How long the upload waited in ``UploadedFiles/`` for an admission limit
    (:mod:`hpc_agent.loop.fairness`); None when no limit held it back."""

    def to_json(self) -> str:
        """The record as deterministic JSON text."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True, indent=1) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        """Build a record from parsed JSON, ignoring keys a newer agent may add."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class StateStore:
    """The job records and prepared scripts of one instance."""

    def __init__(self, base_dir: Path) -> None:
        self.base_dir = base_dir
        self.root = base_dir / protocol.CODE_TO_RUN / STATE_DIR
        self.jobs_dir = self.root / JOBS_DIR
        self.scripts_dir = self.root / SCRIPTS_DIR

    def ensure(self) -> None:
        """Create the state directories (idempotent)."""
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.scripts_dir.mkdir(parents=True, exist_ok=True)

    def record_path(self, uow: str) -> Path:
        """Where the record of ``uow`` lives."""
        return self.jobs_dir / f"{state_key(uow)}.json"

    def script_path(self, uow: str) -> Path:
        """Where the prepared copy of ``uow``'s job script lives."""
        return self.scripts_dir / f"{state_key(uow)}.sh"

    def finalize_script_path(self, uow: str) -> Path:
        """Where the finalize-by-dependency job script of ``uow`` lives."""
        return self.scripts_dir / f"{state_key(uow)}.finalize.sh"

    def load(self, uow: str) -> JobRecord | None:
        """The record of ``uow``, or None when there is none (or it is unreadable)."""
        try:
            content = self.record_path(uow).read_bytes()
        except FileNotFoundError:
            return None
        record = _parse_record(content)
        return record if record is not None and record.uow == uow else None

    def save(self, record: JobRecord) -> None:
        """Write ``record`` durably (temporary file, fsync, then rename).

        Always durable: a rename whose data was not synced can leave an empty
        file after a power loss on Lustre, GPFS or XFS, and with it the intent
        to submit would be lost.
        """
        write_text_atomic(
            self.record_path(record.uow), record.to_json(), crash_name="mid-record-write"
        )

    def delete(self, uow: str) -> None:
        """Forget ``uow``: its record, its prepared script and what its job wrapper left.

        The record goes last: a kill on the way leaves a record whose files
        the next deletion removes, never files without a record that a later
        run of the same name could take for its own.
        """
        for path in (*self.job_files(uow), self.record_path(uow)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def job_files(self, uow: str) -> tuple[Path, ...]:
        """The files kept for ``uow``'s job besides its record: the prepared copy, the
        finalize job's script, the job wrapper and what the wrapper writes."""
        stem = self.scripts_dir / state_key(uow)
        extra = [stem.with_name(stem.name + s) for s in (".wrap.py", ".ended.json", ".ended.log")]
        return (self.script_path(uow), self.finalize_script_path(uow), *extra)

    def all_records(self, on_corrupt: Callable[[Path], None] | None = None) -> dict[str, JobRecord]:
        """Every record, keyed by UoW name (one directory scan).

        A record that cannot be read (not UTF-8, not JSON, not a record) is
        skipped; with ``on_corrupt`` it is also moved into ``corrupt/`` and
        ``on_corrupt`` is called with its new path, so the tick can log it and
        rebuild the record from what is on disk and in the scheduler.
        """
        records: dict[str, JobRecord] = {}
        try:
            entries = list(os.scandir(self.jobs_dir))
        except FileNotFoundError:
            return records
        for entry in entries:
            # Temporary files end in ".tmp"; a record may start with "." (so may a UoW).
            if not entry.name.endswith(".json"):
                continue
            try:
                with open(entry.path, "rb") as handle:
                    record = _parse_record(handle.read())
            except FileNotFoundError:
                continue
            if record is not None:
                records[record.uow] = record
            elif on_corrupt is not None:
                on_corrupt(self.move_aside(Path(entry.path)))
        return records

    def move_aside(self, path: Path) -> Path:
        """Move an unreadable state file into ``corrupt/`` (kept for a person to look at)."""
        aside_dir = self.root / CORRUPT_DIR
        aside_dir.mkdir(parents=True, exist_ok=True)
        target = aside_dir / f"{path.name}.{time.time():.0f}"
        number = 0
        while target.exists():
            number += 1
            target = aside_dir / f"{path.name}.{time.time():.0f}.{number}"
        path.replace(target)
        return target


def state_key(uow: str) -> str:
    """The file-name stem of a UoW's state files: its name, or a hash when that cannot be one.

    A UoW name may be as long as the file system allows (255 bytes), so
    ``<name>.finalize.sh`` (or its temporary file) may not fit. Such names get
    ``#<sha256 of the name's bytes>`` instead: short, safe, and the same on
    every tick. Every other name is kept, so records written by earlier
    agents are found where they are. The record inside always holds the real
    name, which is what the agent goes by.

    >>> state_key("sample_0b7c5fd9")
    'sample_0b7c5fd9'
    >>> state_key("x" * 250).startswith("#"), len(state_key("x" * 250))
    (True, 41)
    """
    raw = os.fsencode(uow)
    if len(raw) + len(LONGEST_STATE_SUFFIX) <= NAME_MAX:
        return uow
    return "#" + hashlib.sha256(raw).hexdigest()[:40]


def _parse_record(content: bytes | str) -> JobRecord | None:
    # A record is only ever replaced by rename, so a parse error means someone
    # edited it, or the disk damaged it; treating it as absent makes the tick
    # rebuild it (the find-by-name check still prevents a second submission).
    try:
        data = json.loads(content)
    except ValueError:  # not JSON, or not UTF-8
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uow"), str):
        return None
    try:
        return JobRecord.from_dict(data)
    except TypeError:
        return None


class Ledger:
    """When each finished item entered its directory, keyed ``"<dir>/<name>"``.

    One small JSON file read once per tick and written only when it changed,
    so a steady-state tick with thousands of finished UoWs stays cheap.
    """

    def __init__(self, state_root: Path) -> None:
        self.path = state_root / LEDGER_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False
        self.damaged: Path | None = None
        """Where a damaged ledger was moved by :meth:`load`, for the tick to log."""

    def load(self) -> Ledger:
        """Read the ledger from disk (a missing or damaged ledger reads as empty)."""
        try:
            data = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            data = {}
        except ValueError:
            # Damaged (not JSON, not UTF-8): read as empty, so retention counts
            # finished UoWs from now, never from earlier. The file is kept for a
            # person: save() moves it aside before writing a new one (only the
            # lock holder saves; status and other readers leave it alone).
            self.damaged = self.path.with_name(f"{self.path.name}.damaged.{time.time():.0f}")
            data = {}
        self.entries = data if isinstance(data, dict) else {}
        self.dirty = False
        return self

    def put(self, key: str, at: float, **fields: Any) -> None:
        """Record that item ``key`` (``"<dir>/<name>"``) arrived at time ``at``."""
        self.entries[key] = {"at": at, **fields}
        self.dirty = True

    def at(self, key: str) -> float | None:
        """When ``key`` arrived, or None when the ledger does not know it."""
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        value = entry.get("at")
        return float(value) if isinstance(value, (int, float)) else None

    def pop(self, key: str) -> None:
        """Forget ``key``."""
        if self.entries.pop(key, None) is not None:
            self.dirty = True

    def save(self) -> None:
        """Write the ledger durably when it changed (a damaged one is first moved aside)."""
        if self.damaged is not None and self.path.exists():
            self.path.replace(self.damaged)
            self.dirty = True
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.entries, sort_keys=True) + "\n")
            self.dirty = False


def ledger_key(directory: str, name: str) -> str:
    """The ledger key of item ``name`` in instance directory ``directory``."""
    return f"{directory}/{name}"

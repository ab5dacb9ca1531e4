"""Durable per-UoW job records and the ledger of finished items.

The tick is level-triggered: it keeps nothing in memory between runs. What it
must not forget (that it admitted a UoW, that it is about to call sbatch, the
job id sbatch returned, the outcome it decided, when it put a UoW into a
finished directory) is written here, always to a temporary file first and then
renamed into place, so a crash leaves either the old record or the new one,
never half of one.

Layout, under ``<base>/CodeToRun/.state/``:

* ``jobs/<uow>.json``: one :class:`JobRecord` per UoW in ``CodeToRun/slurm/``;
* ``scripts/<uow>.sh``: the prepared copy of the job script that is submitted
  (the user's file is never edited);
* ``finished.json``: the :class:`Ledger`, when each item entered
  ``AnalysedFiles/``, ``FailedJobs/`` or ``RecyclingBin/`` (retention counts
  from these times, not from file mtimes, which transfers preserve).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.atomicio import write_text_atomic

STATE_DIR: Final = ".state"
JOBS_DIR: Final = "jobs"
SCRIPTS_DIR: Final = "scripts"
LEDGER_FILE: Final = "finished.json"

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
        return self.jobs_dir / f"{uow}.json"

    def script_path(self, uow: str) -> Path:
        """Where the prepared copy of ``uow``'s job script lives."""
        return self.scripts_dir / f"{uow}.sh"

    def load(self, uow: str) -> JobRecord | None:
        """The record of ``uow``, or None when there is none (or it is unreadable)."""
        try:
            text = self.record_path(uow).read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        return _parse_record(text)

    def save(self, record: JobRecord) -> None:
        """Write ``record`` durably (temporary file, then rename)."""
        write_text_atomic(self.record_path(record.uow), record.to_json())

    def delete(self, uow: str) -> None:
        """Forget ``uow``: its record and its prepared script."""
        finalize_script = self.scripts_dir / f"{uow}.finalize.sh"
        for path in (self.record_path(uow), self.script_path(uow), finalize_script):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    def all_records(self) -> dict[str, JobRecord]:
        """Every record, keyed by UoW name (one directory scan)."""
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
                with open(entry.path, encoding="utf-8") as handle:
                    record = _parse_record(handle.read())
            except FileNotFoundError:
                continue
            if record is not None:
                records[record.uow] = record
        return records


def _parse_record(text: str) -> JobRecord | None:
    # A record is only ever replaced by rename, so a parse error means someone
    # edited it by hand; treating it as absent makes the tick rebuild it (the
    # find-by-name check still prevents a second submission).
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("uow"), str):
        return None
    return JobRecord.from_dict(data)


class Ledger:
    """When each finished item entered its directory, keyed ``"<dir>/<name>"``.

    One small JSON file read once per tick and written only when it changed,
    so a steady-state tick with thousands of finished UoWs stays cheap.
    """

    def __init__(self, state_root: Path) -> None:
        self.path = state_root / LEDGER_FILE
        self.entries: dict[str, dict[str, Any]] = {}
        self.dirty = False

    def load(self) -> Ledger:
        """Read the ledger from disk (a missing or damaged ledger reads as empty)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
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
        """Write the ledger durably when it changed."""
        if self.dirty:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(self.path, json.dumps(self.entries, sort_keys=True) + "\n")
            self.dirty = False


def ledger_key(directory: str, name: str) -> str:
    """The ledger key of item ``name`` in instance directory ``directory``."""
    return f"{directory}/{name}"

"""The FlowCron protocol: the one definition both halves share.

The Globus flow (built by ``flowgen``) and the HPC agent meet only through the
file system of the HPC collection. Every directory name, sentinel rule and
naming rule they both depend on lives here, so the two halves cannot drift:
``flowgen`` imports this module to build the flow, the agent to act on it.

Standard library only.
"""

from __future__ import annotations

import re
from typing import Final

# -- Instance layout (relative to the instance's base directory) ------------

UPLOADED: Final = "UploadedFiles"
"""Where the flow uploads each Unit of Work (UoW)."""
CODE_TO_RUN: Final = "CodeToRun"
"""The agent's work area."""
RUNNING: Final = "CodeToRun/slurm"
"""Admitted UoWs live here while their job is queued or running."""
ANALYSED: Final = "AnalysedFiles"
"""Finished UoWs whose job succeeded; the flow transfers them back."""
FAILED: Final = "FailedJobs"
"""Finished UoWs whose job failed or that were rejected; also transferred back."""
RECYCLING_BIN: Final = "RecyclingBin"
"""Soft-deleted UoWs, before they are deleted for good."""
LOGS: Final = "Logs"
"""The agent's JSON-lines event logs."""

INSTANCE_DIRS: Final = (UPLOADED, RUNNING, ANALYSED, FAILED, RECYCLING_BIN, LOGS)
"""Every directory an instance has, in the order set-up creates them."""

FINISHED_DIRS: Final = (ANALYSED, FAILED)
"""The two places a finished UoW can be, success first."""

# -- Inside a Unit of Work ---------------------------------------------------

DATA_DIR: Final = "data"
SCRIPTS_DIR: Final = "scripts"
SENTINELS_DIR: Final = "sentinels"
"""An empty directory of this name inside a UoW is the hand-over signal.

Upload complete: the flow creates it (mkdir) after the upload transfer
succeeded; the agent does not touch a UoW without it.
Finished: the agent removes it as the last step before the atomic rename into
``AnalysedFiles/`` or ``FailedJobs/``; the flow treats a UoW there as finished
only once ``sentinels/`` is gone, so it never copies a half-finished UoW.
"""
SUBMISSION_SCRIPT: Final = "submission_script.sh"
"""The job script's preferred name inside ``scripts/``."""
REPORT_JSON: Final = "flowcron-report.json"
"""The agent's machine-readable report, written into every finished UoW."""
REPORT_TEXT: Final = "FLOWCRON_REPORT.txt"
"""The agent's short human report, written into every finished UoW."""
SLURM_STDOUT: Final = "slurm-%j.out"
SLURM_STDERR: Final = "slurm-%j.err"
"""Slurm output file patterns, relative to the UoW (``%j`` is the job id)."""

# -- Naming ------------------------------------------------------------------

RUN_ID_PATTERN: Final = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
_RUN_ID_SUFFIX = re.compile(r"_(" + RUN_ID_PATTERN + r")$")

LABEL_LIMIT: Final = 30
"""Names longer than this are shortened in transfer labels."""
LABEL_KEEP: Final = 13
"""Characters kept from each end of a shortened name."""
LABEL_ELLIPSIS: Final = "..."


def job_dir_name(source_folder: str, run_id: str) -> str:
    """Name of a UoW's directory on the HPC: ``<source folder name>_<run_id>``.

    The run id makes two runs of folders with the same name never clash.

    >>> job_dir_name("sample", "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11")
    'sample_0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11'
    """
    return f"{source_folder}_{run_id}"


def run_id_of(name: str) -> str | None:
    """The run id a UoW name ends with, or None for UoWs uploaded by other means."""
    match = _RUN_ID_SUFFIX.search(name)
    return match.group(1) if match else None


def shorten_label(name: str) -> str:
    """Shorten a name for a transfer label: first 13 + ``...`` + last 13 when over 30.

    >>> shorten_label("short")
    'short'
    >>> shorten_label("a_really_long_unit_of_work_folder_name")
    'a_really_long...r_folder_name'
    """
    if len(name) <= LABEL_LIMIT:
        return name
    return name[:LABEL_KEEP] + LABEL_ELLIPSIS + name[-LABEL_KEEP:]


def is_finished(uow_dir_entries: set[str]) -> bool:
    """Whether a UoW found in ``AnalysedFiles/`` or ``FailedJobs/`` is finished.

    The sentinel rule: finished exactly when ``sentinels/`` is gone.
    """
    return SENTINELS_DIR not in uow_dir_entries

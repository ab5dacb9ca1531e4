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
FUNCTIONS: Final = "Functions"
"""The instance's published functions, one folder each (``Functions/<name>/function.toml``)."""
RUN_POLICIES: Final = ("both", "scripts", "functions")
"""What an instance runs: UoWs with their own script, calls of published functions, or both."""
EXECUTORS: Final = ("slurm", "local")
"""What an instance can run jobs with: the values of its ``executor`` setting."""

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
STARTER_DIR: Final = "flowcron-starter"
"""Who started the run: the flow creates ``flowcron-starter/<username>/`` in the UoW.

After the upload and before ``sentinels/``, the FlowCron flow makes this
folder (a Transfer mkdir, which fails when the path exists, so an upload
that brings its own ``flowcron-starter/`` ends the run and is never handed
over), then one child named after the Globus username of the person who
started the run (``$._context.username``). The agent reads it at admission,
attributes the UoW to that user (``unknown`` without it: hand-made uploads,
the original FlowCron flow) and removes the two empty folders, so a folder
run again never brings one back. Someone who can write to the HPC path
directly can still create it by hand: the attribution is as strong as the
instance's file permissions.
"""
UNKNOWN_STARTER: Final = "unknown"
"""The user a UoW without a starter marker is attributed to."""
JOB_FILE: Final = "job.toml"
"""A UoW that calls a published function holds this at its root instead of a script:
``function = "NAME"`` and a ``[params]`` table (``flowgen uow new`` writes one)."""
RENDERED_SCRIPT: Final = "flowcron-job.sh"
"""The job script the agent rendered from a function call, written into the UoW."""
REPORT_JSON: Final = "flowcron-report.json"
"""The agent's machine-readable report, written into every finished UoW."""
REPORT_TEXT: Final = "FLOWCRON_REPORT.txt"
"""The agent's short human report, written into every finished UoW."""
EARLIER_RUNS_DIR: Final = "flowcron-earlier-runs"
"""Where the agent archives what FlowCron wrote into a folder in earlier runs.

A researcher starts the flow again on a folder that came back: it still holds
the earlier run's reports and Slurm output. Before the UoW runs, the agent
moves those (and only those it recognises as FlowCron's own) into
``flowcron-earlier-runs/<earlier UoW name>/``, so they never block the run,
are never deleted, and the new report cannot be taken for the old one.
"""
UOW_MARKER: Final = ".flowcron-uow"
"""A small file the agent puts into each UoW it admits, and removes before hand-back.

It holds the UoW's record token, so a UoW renamed inside ``CodeToRun/slurm/``
or moved back to ``UploadedFiles/`` while its job runs is recognised (and put
back) instead of being taken for a new upload and run twice.
"""
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
    'a_really_long...k_folder_name'
    """
    if len(name) <= LABEL_LIMIT:
        return name
    return name[:LABEL_KEEP] + LABEL_ELLIPSIS + name[-LABEL_KEEP:]


def is_finished(uow_dir_entries: set[str]) -> bool:
    """Whether a UoW found in ``AnalysedFiles/`` or ``FailedJobs/`` is finished.

    The sentinel rule: finished exactly when ``sentinels/`` is gone.
    """
    return SENTINELS_DIR not in uow_dir_entries


# -- Instance names ------------------------------------------------------------
#
# ``hpc-agent setup --name`` and ``flowgen init`` must accept exactly the same
# names, or a PI sets the HPC side up and then cannot build its flow. The name
# ends up in every one of these, so the rule is the one safe for all of them:
#
# - file names on both sides: ``~/.config/flowcron/<name>.toml`` (the agent's
#   registry), ``flows/<name>.toml``, ``flows/<name>.lock.json``, the directory
#   ``flows/build/<name>/`` and ``FlowCron-<name>_definition.json``. Hence no
#   ``/``, no leading ``.`` (hidden, or ``..``) and no trailing ``.`` (Windows,
#   where the PI may run flowgen, drops it from directory names), and not a
#   Windows device name (``con``, ``nul``, ...), which no file there can have;
# - command lines: the name is printed in ``hpc-agent ... <name>`` hints and
#   the scrontab ``--job-name=flowcron-<name>-tick``, so no leading ``-`` and
#   nothing a shell or Slurm treats specially (letters, digits, ``._-`` only);
# - the cron markers ``# BEGIN flowcron:<name>`` / ``# END flowcron:<name>``,
#   matched as whole lines: no spaces or newlines;
# - Slurm job names ``flowcron-<instance>-<uow>``, which keep exactly these
#   characters unchanged (``hpc_agent.uow.record.job_name``);
# - the flow's title ``FlowCron-<name>`` and its Transfer labels. Globus
#   refuses labels over 128 characters and the longest label has 94 besides
#   the name, so the flow shortens a name over 30 characters in labels the way
#   it shortens folder names (:func:`shorten_label`) rather than this rule
#   refusing names the agent has always accepted (up to 64).

INSTANCE_NAME_MAX: Final = 64
"""The longest instance name: what the agent has accepted from the start."""
INSTANCE_NAME_PATTERN: Final = (
    rf"[A-Za-z0-9](?:[A-Za-z0-9_.-]{{0,{INSTANCE_NAME_MAX - 2}}}[A-Za-z0-9_-])?"
)
"""The shape of an instance name (:func:`instance_name_problem` also refuses device names)."""
_INSTANCE_NAME = re.compile(INSTANCE_NAME_PATTERN)
_NAME_CHAR = re.compile(r"[A-Za-z0-9_.-]")
_WINDOWS_DEVICES: Final = frozenset(
    ["con", "prn", "aux", "nul"] + [f"{port}{n}" for port in ("com", "lpt") for n in range(1, 10)]
)
INSTANCE_NAME_RULE: Final = (
    f"use 1 to {INSTANCE_NAME_MAX} letters, digits, '.', '_' or '-', starting with a "
    "letter or digit and not ending with '.' (e.g. cryo.em-lab)"
)
"""What a valid instance name looks like, for messages."""


def instance_name_problem(name: str) -> str | None:
    """Why ``name`` is not a valid instance name, or None when it is.

    The answer reads after the name (``'cryo em' contains ' '; use ...``) and
    ends with :data:`INSTANCE_NAME_RULE`, so it always says what to use.

    >>> instance_name_problem("cryo.em-lab") is None
    True
    >>> print(instance_name_problem("cryo em"))
    contains ' '; use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit and not ending with '.' (e.g. cryo.em-lab)
    >>> print(instance_name_problem("lab.").split(";")[0])
    ends with '.'
    >>> print(instance_name_problem("nul.lab").split(";")[0])
    starts with 'nul', a device name on Windows, where flows/nul.lab.toml cannot exist
    """
    stem = name.split(".", 1)[0]
    if _INSTANCE_NAME.fullmatch(name) and stem.lower() not in _WINDOWS_DEVICES:
        return None
    if not name:
        reason = "is empty"
    elif bad := sorted({c for c in name if not _NAME_CHAR.fullmatch(c)}):
        reason = "contains " + " ".join(repr(c) for c in bad)
    elif len(name) > INSTANCE_NAME_MAX:
        reason = f"is {len(name)} characters long, more than {INSTANCE_NAME_MAX}"
    elif not name[0].isalnum():
        reason = f"starts with {name[0]!r}"
    elif name.endswith("."):
        reason = "ends with '.'"
    else:
        which = "is" if stem == name else f"starts with {stem!r},"
        reason = f"{which} a device name on Windows, where flows/{name}.toml cannot exist"
    return f"{reason}; {INSTANCE_NAME_RULE}"


STARTER_NAME_RE: Final = re.compile(r"^[^/\x00-\x1f\x7f]{1,255}$")
"""A starter's name as the agent accepts it from the marker (one printable path component)."""

"""A folder run again: recognise what FlowCron wrote into it earlier and archive it.

Researchers fix their script and start the flow again on the folder that came
back, as the failure report tells them to. That folder still holds the
earlier run's ``flowcron-report.json`` and ``FLOWCRON_REPORT.txt`` (the names
the new report needs) and its Slurm output. Before the Unit of Work (UoW) is
admitted, the agent moves those into
``flowcron-earlier-runs/<earlier UoW name>/`` (:data:`protocol.EARLIER_RUNS_DIR`),
so they never block the run, are never deleted, and the new report cannot be
taken for the old one.

Only what is recognisably FlowCron's own moves:

- a report file whose content is a FlowCron report (the JSON report's
  signature keys, or the text report's heading); a user's own file that
  merely has a report's name is not touched here (admission refuses it and
  finalize renames it aside, never deleting it);
- top-level Slurm output files (``slurm-<job id>.out``/``.err``, array and
  heterogeneous forms too), unless an identical copy is already archived:
  the transfer back never deletes files in the researcher's folder, so the
  output of a run before the last comes back up again beside its archived
  copy, and moving it once more would only file it under the wrong run.

:func:`find_earlier_outputs` is a pure read (admission uses it, as will a
local pre-flight check); :func:`archive_earlier_outputs` makes the moves, each
a rename inside the UoW, so a crash half-way loses nothing and the next tick
finishes the job.
"""

from __future__ import annotations

import json
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.fs.names import entry_names, free_name, is_real_dir

REPORT_SIGNATURE: Final = frozenset({"agent_version", "outcome", "finalized_at", "uow"})
"""Keys every JSON report the agent writes has; a file with all of them is FlowCron's."""
TEXT_REPORT_HEADING: Final = "FlowCron report\n==============="
"""The first two lines of every text report."""
MAX_REPORT_BYTES: Final = 4 * 1024 * 1024
"""A bigger file at a report's name is not a report of ours, whatever it says."""
SAME_CONTENT_LIMIT: Final = 16 * 1024 * 1024
"""Up to this size, "already archived" is checked byte for byte; above it by size and mtime."""
FALLBACK_LABEL: Final = "earlier-run"
"""The archive folder's name when the earlier run's UoW name is unknown or unusable."""

SLURM_OUTPUT: Final = re.compile(r"^slurm-[0-9]+(?:[_+][0-9]+)?\.(?:out|err)$")
"""Slurm output names at a UoW's top level: ``slurm-<job id>[_<task>|+<component>].out|err``."""
RENDERED_SIGNATURE: Final = re.compile(
    r"^# FlowCron function \S+ \S+ \(sha256 [0-9a-f]{16}\), rendered by the agent\.$",
    re.MULTILINE,
)
"""The line :func:`hpc_agent.functions.render.render` writes into every rendered job script."""
RENDERED_SCAN_BYTES: Final = 64 * 1024
"""The signature is in the script's head (after the ``#SBATCH`` lines): only this much is read."""
_SAFE_LABEL: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$")
_TEXT_UOW_LINE: Final = re.compile(r"^Unit of Work:\s+(\S+)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class EarlierRun:
    """What an earlier FlowCron run left at the top of a UoW.

    ``label`` names the archive folder (the earlier UoW's name when its report
    says it); ``entries`` are the top-level names to move there, sorted.
    """

    label: str
    entries: tuple[str, ...]

    def note(self, archive: str) -> str:
        """The sentence the new report gives about the move."""
        shown = ", ".join(f"'{name}'" for name in self.entries)
        return (
            f"This folder was run through FlowCron before: what that run wrote ({shown}) "
            f"was moved to '{archive}/', so this run's report is the only one at the top of "
            "the folder. Nothing was deleted."
        )


def find_earlier_outputs(uow: Path) -> EarlierRun | None:
    """The earlier run's outputs at the top of ``uow``, or None when there are none.

    Never follows a symlink and never changes anything.
    """
    label: str | None = None
    entries: list[str] = []
    json_report = _read_small(uow / protocol.REPORT_JSON)
    if json_report is not None:
        data = _report_dict(json_report)
        if data is not None:
            entries.append(protocol.REPORT_JSON)
            label = _label(data.get("uow"))
    text_report = _read_small(uow / protocol.REPORT_TEXT)
    if text_report is not None:
        text = text_report.decode("utf-8", "replace").removeprefix("\ufeff").replace("\r\n", "\n")
        if text.startswith(TEXT_REPORT_HEADING):
            entries.append(protocol.REPORT_TEXT)
            if label is None and (match := _TEXT_UOW_LINE.search(text)):
                label = _label(match.group(1))
    if is_rendered_script(uow / protocol.RENDERED_SCRIPT):
        entries.append(protocol.RENDERED_SCRIPT)
    archived = _archived_files(uow)
    for name in entry_names(uow):
        if (
            SLURM_OUTPUT.match(name)
            and _is_regular(uow / name)
            and not any(_same_file(uow / name, copy) for copy in archived.get(name, ()))
        ):
            entries.append(name)
    if not entries:
        return None
    return EarlierRun(label=label or FALLBACK_LABEL, entries=tuple(sorted(entries)))


def archive_earlier_outputs(uow: Path, earlier: EarlierRun) -> str:
    """Move ``earlier.entries`` into a new archive folder; return its path relative to ``uow``.

    The archive folder is always new (``<label>``, else ``<label>.1``...), so
    nothing in it is ever overwritten. An entry that has gone since it was
    found (the next tick after a crash) is skipped.
    """
    top = _archive_root(uow)
    top.mkdir(exist_ok=True)
    folder = free_name(top, earlier.label)
    folder.mkdir()
    for name in earlier.entries:
        try:
            (uow / name).rename(folder / name)
        except FileNotFoundError:
            continue
    return os.path.relpath(folder, uow)


def is_rendered_script(path: Path) -> bool:
    """Whether ``path`` is a regular file FlowCron rendered (never follows a link)."""
    content = _read_small(path)
    if content is None or not content.startswith(b"#!/bin/bash\n"):
        return False
    head = content[:RENDERED_SCAN_BYTES].decode("utf-8", "replace")
    return RENDERED_SIGNATURE.search(head) is not None


# -- helpers -------------------------------------------------------------------


def _read_small(path: Path) -> bytes | None:
    """The content of a regular file of at most MAX_REPORT_BYTES, read without following links."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_REPORT_BYTES:
            return None
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(fd)


def _report_dict(content: bytes) -> dict[str, object] | None:
    try:
        data = json.loads(content.decode("utf-8"))
    except ValueError:
        return None
    if isinstance(data, dict) and data.keys() >= REPORT_SIGNATURE:
        return data
    return None


def _label(value: object) -> str | None:
    """The earlier UoW's name as an archive folder name, when it is a safe one."""
    if isinstance(value, str) and _SAFE_LABEL.match(value) and value not in (".", ".."):
        return value
    return None


def _is_regular(path: Path) -> bool:
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def _archive_root(uow: Path) -> Path:
    """``flowcron-earlier-runs`` (or ``.1``... when a user's non-folder has that name)."""
    candidate = uow / protocol.EARLIER_RUNS_DIR
    number = 0
    while os.path.lexists(candidate) and not is_real_dir(candidate):
        number += 1
        candidate = uow / f"{protocol.EARLIER_RUNS_DIR}.{number}"
    return candidate


def _archived_files(uow: Path) -> dict[str, list[Path]]:
    """Files already in the archive folders, by name (one level of run folders)."""
    found: dict[str, list[Path]] = {}
    root = uow / protocol.EARLIER_RUNS_DIR
    if not is_real_dir(root):
        return found
    for run in entry_names(root):
        run_dir = root / run
        if not is_real_dir(run_dir):
            continue
        for name in entry_names(run_dir):
            if SLURM_OUTPUT.match(name):
                found.setdefault(name, []).append(run_dir / name)
    return found


def _same_file(path: Path, copy: Path) -> bool:
    """Whether ``copy`` (already archived) holds the same bytes as ``path``."""
    try:
        first, second = os.lstat(path), os.lstat(copy)
    except OSError:
        return False
    if not stat.S_ISREG(second.st_mode) or first.st_size != second.st_size:
        return False
    if first.st_size > SAME_CONTENT_LIMIT:
        return int(first.st_mtime) == int(second.st_mtime)
    try:
        return path.read_bytes() == copy.read_bytes()
    except OSError:
        return False

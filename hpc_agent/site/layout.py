"""The instance layout check: each protocol directory is a real directory in the base.

The agent renames, changes modes and deletes inside these directories. If one
of them is a symlink (``RecyclingBin -> /data/shared``), all of that happens
wherever it points: retention would start a clock on files that were never a
Unit of Work and delete them, finalize would change modes outside the
instance. So while :func:`layout_problems` finds anything, the tick does
nothing (exit code 1, a ``layout-refused`` log line), retention does nothing
and ``hpc-agent doctor`` FAILs, each saying which directory and why.

A directory that does not exist is not a layout problem: set-up and the tick
create them, and doctor reports a missing one separately.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import Final

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.eventlog import EventLog
from hpc_agent.loop.state import STATE_DIR

LAYOUT_DIRS: Final = (
    protocol.UPLOADED,
    protocol.CODE_TO_RUN,
    protocol.RUNNING,
    f"{protocol.CODE_TO_RUN}/{STATE_DIR}",
    protocol.ANALYSED,
    protocol.FAILED,
    protocol.RECYCLING_BIN,
    protocol.LOGS,
)
"""Every directory the agent works in, relative to the base (parents before children)."""

LAYOUT_FIX: Final = (
    "make each of them a real directory in the base: move what it holds into the instance "
    "(or set the instance up where the data is, `hpc-agent setup --base-dir DIR`), then "
    "replace the link with `mkdir`; the agent does nothing until then"
)
"""What to do about any layout problem (doctor's fix, the tick's log line)."""


def layout_findings(
    cfg: InstanceConfig, dirs: Iterable[str] = LAYOUT_DIRS
) -> list[tuple[str, str]]:
    """(directory, problem) for each of ``dirs`` (and its parents) that is not a real directory.

    Only looks (``lstat``, ``readlink``). A parent found wrong hides its
    children: ``CodeToRun`` being a symlink is reported once, not again for
    ``CodeToRun/slurm``.
    """
    findings: list[tuple[str, str]] = []
    checked: set[str] = set()
    for rel in dirs:
        parts = rel.split("/")
        for depth in range(1, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in checked:
                if any(found == prefix for found, _ in findings):
                    break
                continue
            checked.add(prefix)
            problem = _problem(cfg, prefix)
            if problem is not None:
                findings.append((prefix, problem))
                break
    return findings


def layout_problems(cfg: InstanceConfig, dirs: Iterable[str] = LAYOUT_DIRS) -> list[str]:
    """A sentence for each protocol directory that is a symlink or not a directory."""
    return [problem for _, problem in layout_findings(cfg, dirs)]


def _problem(cfg: InstanceConfig, rel: str) -> str | None:
    path = cfg.base_dir / rel
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"{rel}/ cannot be examined ({exc.strerror})"
    if stat.S_ISLNK(info.st_mode):
        try:
            target = str(path.readlink())
        except OSError:
            target = "?"
        return (
            f"{rel}/ is a symlink (to {target}), so what the agent moves, changes and "
            "deletes there would happen outside the instance"
        )
    if not stat.S_ISDIR(info.st_mode):
        return f"{rel}/ is not a directory"
    return None


def log_refusal(cfg: InstanceConfig, log: EventLog, problems: list[str], what: str) -> str:
    """Log why ``what`` (``"the tick"``) did nothing, and return the one-line summary.

    Nothing is written when ``Logs/`` is itself one of the problems (the line
    would land outside the instance) or does not exist yet. The caller prints
    the summary (cron mails it).
    """
    summary = f"{what} did nothing: " + "; ".join(problems) + f". Fix: {LAYOUT_FIX}"
    logs = cfg.path(protocol.LOGS)
    if not layout_findings(cfg, (protocol.LOGS,)) and logs.is_dir():
        log.write("layout-refused", summary, level="error", problems=list(problems))
    return f"instance layout refused: {summary}"


__all__ = ["LAYOUT_DIRS", "LAYOUT_FIX", "layout_findings", "layout_problems", "log_refusal"]

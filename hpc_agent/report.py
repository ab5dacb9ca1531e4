"""The report the agent leaves in every finished Unit of Work.

Two files, written atomically before the UoW is handed back:
``flowcron-report.json`` (everything, for programs) and
``FLOWCRON_REPORT.txt`` (a short page for the researcher: what ran, how it
ended, and what to do next). The report dict is built by the finalize step;
the keys read here are listed in :data:`TEXT_FIELDS`, and any of them may be
missing or None.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hpc_agent import protocol
from hpc_agent.atomicio import write_text_atomic

TEXT_FIELDS = (
    ("Unit of Work", "uow"),
    ("Instance", "instance"),
    ("Job id", "job_id"),
    ("Slurm state", "state"),
    ("Exit code", "exit_code"),
    ("Elapsed", "elapsed"),
    ("Node", "node"),
    ("Submitted", "submit_time"),
    ("Started", "start_time"),
    ("Ended", "end_time"),
    ("Script sha256", "script_sha256"),
)
"""(label, report key) pairs shown in the text report, in order."""

_OUTCOME_TITLES = {
    "succeeded": "The job succeeded.",
    "failed": "The job failed.",
    "rejected": "The Unit of Work was not run.",
    "cancelled": "The job was cancelled.",
}


def write_report(uow_dir: Path, report: dict[str, Any]) -> None:
    """Write both report files into ``uow_dir`` (JSON first; each temp-then-rename)."""
    text = json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False, default=str)
    write_text_atomic(uow_dir / protocol.REPORT_JSON, text + "\n")
    write_text_atomic(uow_dir / protocol.REPORT_TEXT, render_text(report))


def render_text(report: dict[str, Any]) -> str:
    """The human report: outcome, the facts that exist, problems, notes and the next step."""
    outcome = str(report.get("outcome") or "")
    lines = ["FlowCron report", "===============", ""]
    lines.append(_OUTCOME_TITLES.get(outcome, f"Outcome: {outcome or 'unknown'}."))
    if report.get("reason"):
        lines.append(f"Reason: {report['reason']}")
    lines.append("")
    width = max(len(label) for label, _ in TEXT_FIELDS)
    for label, key in TEXT_FIELDS:
        value = report.get(key)
        if value not in (None, ""):
            lines.append(f"{label + ':':<{width + 1}} {value}")
    for title, key in (("Problems", "problems"), ("Notes", "notes")):
        items = [str(item) for item in report.get(key) or ()]
        if items:
            lines.extend(["", f"{title}:"])
            lines.extend(f"  - {item}" for item in items)
    removed = [str(item) for item in report.get("removed_symlinks") or ()]
    if removed:
        lines.extend(["", "Symlinks to places outside this folder were removed:"])
        lines.extend(f"  - {item}" for item in removed)
    if report.get("next_step"):
        lines.extend(["", f"What to do next: {report['next_step']}"])
    lines.extend(["", f"Full details: {protocol.REPORT_JSON}"])
    return "\n".join(lines) + "\n"


def read_report(uow_dir: Path) -> dict[str, Any] | None:
    """The JSON report of a finished UoW, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((uow_dir / protocol.REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

"""The report the agent leaves in every finished Unit of Work.

Two files, written atomically before the UoW is handed back:
``flowcron-report.json`` (everything, for programs) and
``FLOWCRON_REPORT.txt`` (a short page for the researcher: what ran, how it
ended, and what to do next). The report dict is built by the finalize step;
the keys read here are listed in :data:`TEXT_FIELDS` (plus ``function``, for a
UoW that called a published function), and any of them may be missing or None.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.fs.atomicio import TEMP_SUFFIX, write_bytes_atomic, write_text_atomic
from hpc_agent.text import json_bytes, printable

TEXT_FIELDS = (
    ("Unit of Work", "uow"),
    ("Instance", "instance"),
    ("Started by", "user"),
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

STDERR_TAIL_LINES: Final = 20
"""How many of the last lines of the job's error output a report quotes."""
STDERR_TAIL_BYTES: Final = 16 * 1024
"""At most this much is read from the end of the error output (it can be gigabytes)."""
STDERR_LINE_CHARS: Final = 300
"""A quoted line longer than this is cut (progress bars write one endless line)."""

_NOT_FOUND: Final = re.compile(r"(?:^|: )([^\s:]+): (?:command )?not found\s*$")
_NO_SUCH_FILE: Final = re.compile(r"No such file or directory")

_OUTCOME_TITLES = {
    "succeeded": "The job succeeded.",
    "failed": "The job failed.",
    "rejected": "The Unit of Work was not run.",
    "cancelled": "The job was cancelled.",
}


def write_report(uow_dir: Path, report: dict[str, Any]) -> None:
    """Write both report files into ``uow_dir`` (JSON first; each temp-then-rename)."""
    data = json_bytes(report, indent=2, sort_keys=True, default=str)
    write_bytes_atomic(uow_dir / protocol.REPORT_JSON, data + b"\n")
    write_text_atomic(uow_dir / protocol.REPORT_TEXT, render_text(report))


def remove_report_temporaries(uow_dir: Path) -> None:
    """Delete temporary report files left by a write that a crash cut short.

    :func:`write_report` writes ``.<report name>.<random>.tmp`` next to each
    report (so do the marker and the rendered job script); after a kill -9
    mid-write such a file would be handed back to the researcher. Only names
    of exactly that form are touched.
    """
    names = (
        protocol.REPORT_JSON,
        protocol.REPORT_TEXT,
        protocol.UOW_MARKER,
        protocol.RENDERED_SCRIPT,
    )
    prefixes = tuple(f".{name}." for name in names)
    try:
        with os.scandir(uow_dir) as entries:
            stray = [
                e.path
                for e in entries
                if e.name.startswith(prefixes)
                and e.name.endswith(TEMP_SUFFIX)
                and e.is_file(follow_symlinks=False)
            ]
    except OSError:
        return
    for path in stray:
        with contextlib.suppress(FileNotFoundError):
            Path(path).unlink()


def render_text(report: dict[str, Any]) -> str:
    """The human report: outcome, the facts that exist, problems, notes and the next step."""
    outcome = str(report.get("outcome") or "")
    lines = ["FlowCron report", "===============", ""]
    title = _OUTCOME_TITLES.get(outcome, f"Outcome: {outcome or 'unknown'}.")
    if outcome == "succeeded" and isinstance(report.get("stderr"), dict):
        title = "The job succeeded, but your job wrote errors: read them below."
    lines.append(title)
    if report.get("reason"):
        lines.append(f"Reason: {printable(str(report['reason']))}")
    lines.append("")
    rows = [(label, report.get(key)) for label, key in TEXT_FIELDS] + _function_rows(report)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        if value not in (None, ""):
            lines.append(f"{label + ':':<{width + 1}} {printable(str(value))}")
    lines.extend(_waited_lines(report))
    lines.extend(_task_lines(report))
    lines.extend(_lost_lines(report))
    lines.extend(_stderr_lines(report))
    for title, key in (("Problems", "problems"), ("Notes", "notes")):
        items = [printable(str(item)) for item in report.get(key) or ()]
        if items:
            lines.extend(["", f"{title}:"])
            lines.extend(f"  - {item}" for item in items)
    removed = [printable(str(item)) for item in report.get("removed_symlinks") or ()]
    if removed:
        lines.extend(["", "Symlinks to places outside this folder were removed:"])
        lines.extend(f"  - {item}" for item in removed)
    if report.get("next_step"):
        lines.extend(["", f"What to do next: {printable(str(report['next_step']))}"])
    lines.extend(["", f"Full details: {protocol.REPORT_JSON}"])
    return "\n".join(lines) + "\n"


def stderr_summary(uow_dir: Path, job_id: str | None) -> dict[str, Any] | None:
    """The end of the job's error output, for the report; None when it is empty or absent.

    ``{"file": "slurm-<id>.err", "bytes": size, "tail": [last lines], "hints": [...]}``.
    Reads at most :data:`STDERR_TAIL_BYTES` from the end, never through a
    symlink or from anything but a regular file; undecodable bytes are
    replaced, so the report is always valid UTF-8.
    """
    if job_id is None:
        return None
    name = protocol.SLURM_STDERR.replace("%j", job_id)
    try:
        fd = os.open(uow_dir / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return None
        start = max(0, info.st_size - STDERR_TAIL_BYTES)
        os.lseek(fd, start, os.SEEK_SET)
        raw = os.read(fd, STDERR_TAIL_BYTES)
    except OSError:
        return None
    finally:
        os.close(fd)
    text = raw.decode("utf-8", "replace")
    all_lines = text.splitlines()
    if start > 0 and all_lines:
        all_lines = all_lines[1:]  # the first line read is probably cut
    tail = [_cut(line) for line in all_lines[-STDERR_TAIL_LINES:]]
    if not any(line.strip() for line in tail):
        return None
    return {"file": name, "bytes": info.st_size, "tail": tail, "hints": error_hints(tail)}


def error_hints(lines: list[str]) -> list[str]:
    """Plain advice for the errors researchers meet most, from quoted error lines."""
    hints: list[str] = []
    missing = sorted({m.group(1) for line in lines if (m := _NOT_FOUND.search(line))})
    if missing:
        names = ", ".join(f"'{name}'" for name in missing)
        hints.append(
            f"The job could not find the program(s) {names}. Jobs do not read your shell "
            "start-up files: load the software in the script ('module load ...', or "
            "'source .../conda.sh' before 'conda activate') or give the program's "
            "absolute path."
        )
    if any(_NO_SUCH_FILE.search(line) for line in lines):
        hints.append(
            "A file or folder the job needed was not there. The job runs inside this "
            "folder on the HPC: use paths relative to it (e.g. data/input.txt), not paths "
            "on your own computer."
        )
    return hints


def _cut(line: str) -> str:
    return line if len(line) <= STDERR_LINE_CHARS else line[:STDERR_LINE_CHARS] + " [...]"


def _function_rows(report: dict[str, Any]) -> list[tuple[str, object]]:
    """(label, value) rows for the function a UoW called: name and version, hash, values."""
    function = report.get("function")
    if not isinstance(function, dict) or not function.get("name"):
        return []
    name = str(function["name"])
    if function.get("version"):
        name += f" {function['version']}"
    rows: list[tuple[str, object]] = [
        ("Function", name),
        ("Function sha256", function.get("sha256")),
    ]
    params = function.get("params")
    if isinstance(params, dict):
        shown = ", ".join(
            f"{key} = {json.dumps(value, ensure_ascii=False)}" for key, value in params.items()
        )
        rows.append(("Parameters", shown or "none"))
    resources = function.get("resources")
    if isinstance(resources, dict) and resources:
        rows.append(("Resources", ", ".join(_resource(k, v) for k, v in resources.items())))
    return rows


def _resource(key: str, value: object) -> str:
    if isinstance(value, list):
        return f"{key} {' '.join(str(v) for v in value)}"
    return f"{key} {value}"


MAX_TASKS_LISTED: Final = 20
"""The text report lists at most this many tasks that did not succeed (the JSON has all)."""


def _task_lines(report: dict[str, Any]) -> list[str]:
    """``Array tasks: 4 (3 COMPLETED, 1 FAILED)`` and the tasks that did not succeed."""
    tasks = report.get("tasks")
    if not isinstance(tasks, dict):
        return []
    kind = "Components" if tasks.get("kind") == "heterogeneous" else "Array tasks"
    counts = tasks.get("counts") or {}
    summary = ", ".join(f"{number} {state}" for state, number in counts.items())
    lines = ["", f"{kind}: {tasks.get('total')} ({summary})"]
    failed = [t for t in tasks.get("not_succeeded") or () if isinstance(t, dict)]
    if failed:
        lines.append("Did not succeed:")
        for task in failed[:MAX_TASKS_LISTED]:
            text = f"  - {task.get('task')}: {task.get('state')}"
            if task.get("exit_code"):
                text += f", exit code {task['exit_code']}"
            if task.get("reason"):
                text += f" ({task['reason']})"
            if task.get("stderr"):
                text += f"; see {task['stderr']}"
            lines.append(printable(text))
        if len(failed) > MAX_TASKS_LISTED:
            lines.append(
                f"  - ... and {len(failed) - MAX_TASKS_LISTED} more ({protocol.REPORT_JSON})"
            )
    return lines


def _waited_lines(report: dict[str, Any]) -> list[str]:
    """How long the upload waited for an admission limit (``waited_for_limit_seconds``)."""
    waited = report.get("waited_for_limit_seconds")
    if not isinstance(waited, (int, float)) or isinstance(waited, bool):
        return []
    minutes = int(waited) // 60
    shown = f"{int(waited)} s" if minutes < 2 else f"{minutes} min"
    return [
        "",
        f"It waited {shown} in {protocol.UPLOADED}/ before it was admitted: the instance "
        "limits how many Units of Work each user (or everyone) may have at once.",
    ]


def _lost_lines(report: dict[str, Any]) -> list[str]:
    """What Slurm lost, and whether FlowCron submitted the Unit of Work again."""
    lost = [item for item in report.get("lost_jobs") or () if isinstance(item, dict)]
    if not lost:
        return []
    lines = ["", "Slurm lost a job of this Unit of Work:"]
    lines.extend(f"  - {printable(str(item.get('reason')))}" for item in lost)
    if report.get("resubmissions") and str(lost[-1].get("job_id")) != str(report.get("job_id")):
        lines.append(
            f"  FlowCron submitted it again as job {report.get('job_id')}; the outcome above "
            "is that job's."
        )
    return lines


def _stderr_lines(report: dict[str, Any]) -> list[str]:
    summary = report.get("stderr")
    if not isinstance(summary, dict):
        return []
    tail = [str(line) for line in summary.get("tail") or ()]
    lines = [
        "",
        f"Your job wrote errors: {summary.get('file')} is not empty. Its last lines:",
    ]
    lines.extend(f"  | {printable(line)}" for line in tail)
    for hint in summary.get("hints") or ():
        lines.append(f"  -> {hint}")
    return lines


def read_report(uow_dir: Path) -> dict[str, Any] | None:
    """The JSON report of a finished UoW, or None when there is none (or it is unreadable)."""
    try:
        data = json.loads((uow_dir / protocol.REPORT_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None

"""Unit of Work admission: is an uploaded UoW fit to submit, and what exactly is submitted.

Pure functions over the file system: they read the UoW (names, link targets,
sizes and the job script) and never change it, never run a subprocess, so the
tick can admit hundreds of UoWs per run and flowgen can reuse them for a
local pre-flight. Every rejection is a sentence that says what is wrong and
what to do about it.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.sbatch import script_options
from hpc_agent.fs.names import entry_names
from hpc_agent.fs.treewalk import Entry, TreeWalk, link_escapes
from hpc_agent.uow.rerun import EarlierRun, find_earlier_outputs
from hpc_agent.uow.script_lint import lint_script

UploadState = Literal["uploading", "ready", "bad-sentinels"]

MAX_SCRIPT_BYTES = 4 * 1024 * 1024
"""Slurm's default ``max_script_size``: sbatch refuses bigger scripts."""
CANDIDATE_SCAN_BYTES = 1024 * 1024
"""How much of a non-preferred file in scripts/ is read to decide if it is a job script."""

_BASH_SHEBANG = re.compile(r"^#!\s*(?:/usr)?/bin/(?:env\s+)?bash(?:\s.*)?$")
_ANY_SHEBANG = re.compile(r"^#!\s*/\S+")
_HOME_USER = re.compile(r"\$(HOME|USER)(?![A-Za-z0-9_])|\$\{(HOME|USER)(?![A-Za-z0-9_])")
_UNSAFE_CHARS = re.compile(r"[\x00-\x1f\x7f]")

# sbatch options the agent sets itself; keyed by every spelling sbatch accepts.
_OVERRIDDEN = {
    "--output": "output",
    "-o": "output",
    "--error": "error",
    "-e": "error",
    "--chdir": "chdir",
    "--workdir": "chdir",
    "-D": "chdir",
}
_ACCOUNT_QOS = {"--account": "account", "-A": "account", "--qos": "qos", "-q": "qos"}


@dataclass(frozen=True)
class Directive:
    """One ``#SBATCH`` option the agent cares about: where it is and what it asks for."""

    line: int
    option: str
    canonical: str
    value: str | None


@dataclass(frozen=True)
class Admission:
    """The verdict on one UoW.

    ``ok`` means submit ``script_text`` (the prepared copy: CRLF normalised,
    byte-order mark dropped; the user's ``script`` file is never edited).
    ``problems`` are rejection reasons (the UoW goes to FailedJobs with them);
    ``notes`` are things handled that the report should mention. ``pending``
    is True when the upload is still in progress and not timed out: leave the
    UoW alone, it is neither admitted nor rejected. ``script_sha256`` is the
    hash of the user's file as uploaded (``sha256sum scripts/<file>``).
    ``earlier`` lists what an earlier FlowCron run left in the folder (a
    folder run again); the tick archives it before the UoW moves on, whether
    it is admitted or rejected (see :mod:`hpc_agent.uow.rerun`).
    """

    ok: bool
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    script: Path | None = None
    script_text: str | None = None
    script_sha256: str | None = None
    pending: bool = False
    directives: tuple[Directive, ...] = field(default=())
    earlier: EarlierRun | None = None


def upload_state(uow: Path) -> UploadState:
    """Where the upload of ``uow`` stands, by the sentinel rule of :mod:`hpc_agent.protocol`.

    ``ready``: ``sentinels/`` is a real directory (the flow made it after the
    transfer succeeded). ``uploading``: no ``sentinels``. ``bad-sentinels``:
    something that is not a directory (a file, a symlink) has that name.
    """
    try:
        mode = os.lstat(uow / protocol.SENTINELS_DIR).st_mode
    except FileNotFoundError:
        return "uploading"
    return "ready" if stat.S_ISDIR(mode) else "bad-sentinels"


def admit(uow: Path, cfg: InstanceConfig, *, now: float | None = None) -> Admission:
    """Decide whether ``uow`` may be submitted, and prepare the script text to submit."""
    now = time.time() if now is None else now
    try:
        top = os.lstat(uow)
    except FileNotFoundError:
        return Admission(ok=False, problems=(f"{uow} does not exist.",))
    if not stat.S_ISDIR(top.st_mode):
        kind = "a symlink" if stat.S_ISLNK(top.st_mode) else "a file"
        return Admission(
            ok=False,
            problems=(
                f"'{uow.name}' is {kind}, not a folder. Upload a folder holding "
                f"'{protocol.DATA_DIR}/' and '{protocol.SCRIPTS_DIR}/'.",
            ),
        )

    state = upload_state(uow)
    walk = _walk(uow, cfg.max_uow_bytes)
    problems: list[str] = []

    if state == "uploading":
        timeout = cfg.upload_timeout_days * 86400
        if timeout and now - walk.newest_mtime > timeout:
            age_days = (now - walk.newest_mtime) / 86400
            return Admission(
                ok=False,
                problems=(
                    f"The upload never completed: there is no '{protocol.SENTINELS_DIR}/' "
                    f"folder and nothing in the Unit of Work changed for {age_days:.0f} days "
                    f"(the limit is {cfg.upload_timeout_days}). Start the flow again to "
                    "upload it anew.",
                ),
            )
        return Admission(ok=False, pending=True)
    if state == "bad-sentinels":
        problems.append(
            f"'{protocol.SENTINELS_DIR}' is a file or a link, but it must be a folder: FlowCron "
            "creates it to mark a finished upload. Rename or remove that file in your "
            "Unit of Work and start the flow again."
        )

    if walk.over_limit:
        problems.append(
            f"The Unit of Work is over the size limit of {_human_bytes(cfg.max_uow_bytes)} "
            f"(counted {_human_bytes(walk.total_bytes)} before stopping). Split the data "
            "into smaller Units of Work, or ask the instance's owner to raise max_uow_bytes."
        )
    problems.extend(walk.problems)
    if "\\" in uow.name:
        # Slurm reads a backslash in --output/--error as "expand nothing", so the
        # job's output would be lost; '%' is escaped instead (slurm.slurm_filename).
        problems.append(
            f"The folder name {_show(uow.name)!r} contains '\\', which Slurm cannot use "
            "in the name of a job's output files; rename the folder and start the flow again."
        )
    earlier = find_earlier_outputs(uow)
    ours = set(earlier.entries) if earlier else set()
    for reserved in (protocol.REPORT_JSON, protocol.REPORT_TEXT):
        if os.path.lexists(uow / reserved) and reserved not in ours:
            problems.append(
                f"'{reserved}' is the name of the report FlowCron writes into every Unit of "
                f"Work, and yours is not a FlowCron report; rename your '{reserved}' and "
                f"start the flow again (it is kept, renamed to '{reserved}.user')."
            )

    problems.extend(layout_problems(uow))
    if problems and not (uow / protocol.SCRIPTS_DIR).is_dir():
        return Admission(ok=False, problems=tuple(problems), earlier=earlier)

    script, choose_problems = choose_script(uow / protocol.SCRIPTS_DIR)
    problems.extend(choose_problems)
    if script is None:
        return Admission(ok=False, problems=tuple(problems), earlier=earlier)

    checked = check_script(script, cfg, relative=f"{protocol.SCRIPTS_DIR}/{script.name}")
    problems.extend(checked.problems)
    return Admission(
        ok=not problems,
        problems=tuple(problems),
        notes=checked.notes,
        script=script,
        script_text=checked.script_text if not problems else None,
        script_sha256=checked.script_sha256,
        directives=checked.directives,
        earlier=earlier,
    )


# -- the folder layout -------------------------------------------------------


def layout_problems(uow: Path) -> list[str]:
    """A sentence for each of ``data/`` and ``scripts/`` that is missing, with a likely fix.

    Folder names are case-sensitive on the HPC, so ``Data/`` from a Mac or
    Windows machine is not ``data/``: the message names the near miss. A job
    script at the top of the folder, or a UoW one level further down (the
    flow was started on the folder around it), is named too.
    """
    problems: list[str] = []
    names = entry_names(uow)
    for sub in (protocol.DATA_DIR, protocol.SCRIPTS_DIR):
        if (uow / sub).is_dir() and not (uow / sub).is_symlink():
            continue
        problem = (
            f"The folder '{sub}/' is missing. A Unit of Work holds your files in "
            f"'{protocol.DATA_DIR}/' and exactly one Slurm job script in "
            f"'{protocol.SCRIPTS_DIR}/'."
        )
        near = _near_miss(sub, [n for n in names if n != sub and (uow / n).is_dir()])
        if near is not None:
            problem += (
                f" Did you mean '{sub}/'? This folder has '{near}/'; names are "
                f"case-sensitive on the HPC, so rename '{near}' to '{sub}'"
            )
        elif sub == protocol.SCRIPTS_DIR and protocol.SUBMISSION_SCRIPT in names:
            problem += (
                f" '{protocol.SUBMISSION_SCRIPT}' is at the top of the folder: move it "
                f"into a folder '{protocol.SCRIPTS_DIR}/'"
            )
        elif nested := _nested_uow(uow, names):
            problem += (
                f" The folder '{nested}' inside it has '{protocol.DATA_DIR}/' and "
                f"'{protocol.SCRIPTS_DIR}/': start the flow on '{nested}' itself"
            )
        else:
            problem += " Add it"
        problems.append(problem + " and start the flow again.")
    return problems


def _near_miss(wanted: str, candidates: list[str]) -> str | None:
    """A folder name that is ``wanted`` with other case, spacing, or a typo."""
    folded = {name.strip().casefold(): name for name in candidates}
    if wanted in folded:
        return folded[wanted]
    close = difflib.get_close_matches(wanted, list(folded), n=1, cutoff=0.75)
    return folded[close[0]] if close else None


def _nested_uow(uow: Path, names: list[str]) -> str | None:
    folders = [n for n in names if n != protocol.SENTINELS_DIR and (uow / n).is_dir()]
    if len(folders) != 1:
        return None
    inner = uow / folders[0]
    if (inner / protocol.DATA_DIR).is_dir() and (inner / protocol.SCRIPTS_DIR).is_dir():
        return folders[0]
    return None


# -- walking the UoW ---------------------------------------------------------


@dataclass
class _Walk:
    total_bytes: int = 0
    newest_mtime: float = 0.0
    over_limit: bool = False
    problems: list[str] = field(default_factory=list)


def _walk(uow: Path, limit: int) -> _Walk:
    """One pass over the UoW, never following symlinks, stopping once over ``limit`` bytes.

    The walk goes through directory descriptors (:class:`~hpc_agent.fs.treewalk.TreeWalk`),
    so a tree deeper than PATH_MAX is checked to the bottom like any other,
    and each symlink is resolved a component at a time: a link pointing out
    of the UoW is found at any depth. Only reads.
    """
    result = _Walk()
    top = os.lstat(uow)
    result.newest_mtime = top.st_mtime
    name_problem = _unsafe_name_problem(uow.name, uow.name)
    if name_problem:
        result.problems.append(name_problem)
    try:
        walk = TreeWalk(uow)
    except OSError as exc:
        result.problems.append(_unreadable(".", exc))
        return result
    with walk:
        try:
            for entry in walk:
                if entry.error is not None:
                    result.problems.append(_unreadable(entry.rel, entry.error))
                    continue
                name_problem = _unsafe_name_problem(entry.name, entry.rel)
                if name_problem:
                    result.problems.append(name_problem)
                info = entry.info
                result.newest_mtime = max(result.newest_mtime, info.st_mtime)
                if entry.is_link:
                    if link_escapes(entry.dir_fd, entry.name, walk.root_ident):
                        result.problems.append(_outside_link_problem(entry))
                elif stat.S_ISREG(info.st_mode):
                    result.total_bytes += info.st_size
                    if result.total_bytes > limit:
                        result.over_limit = True
                        return result
        except OSError as exc:
            result.problems.append(
                f"The Unit of Work could not be checked to the end ({exc.strerror or exc}"
                + (f": '{_show(str(exc.filename))}'" if exc.filename else "")
                + "); make sure nothing changes it while it waits, then start the flow again."
            )
    return result


def _unreadable(rel: str, exc: OSError) -> str:
    return f"The folder '{_show(rel)}' cannot be read ({exc.strerror}); fix its permissions."


def _outside_link_problem(entry: Entry) -> str:
    try:
        target = os.readlink(entry.name, dir_fd=entry.dir_fd)
    except OSError:
        target = "?"
    return (
        f"'{_show(entry.rel)}' is a symlink to '{_show(target)}', which is outside the Unit "
        "of Work, so the job would read or write files FlowCron does not manage. Replace it "
        "with the file itself, or use the absolute path in your script."
    )


def _unsafe_name_problem(name: str, rel: str) -> str | None:
    reason = None
    if "\n" in name:
        reason = "contains a newline"
    elif _UNSAFE_CHARS.search(name):
        reason = "contains a control character"
    elif name.startswith("-"):
        reason = "starts with '-' (commands would take it for an option)"
    elif any("\udc80" <= ch <= "\udcff" for ch in name):
        reason = "is not valid UTF-8"
    if reason is None:
        return None
    return f"The name {_show(rel)!r} {reason}; rename it and start the flow again."


def _show(text: str) -> str:
    """A name made printable for a message (control characters escaped)."""
    return text.encode("utf-8", "backslashreplace").decode("ascii", "backslashreplace")


# -- choosing the job script -------------------------------------------------


def choose_script(scripts_dir: Path) -> tuple[Path | None, list[str]]:
    """The job script in ``scripts_dir``, or None with the reason none could be chosen.

    ``submission_script.sh`` wins when present. Otherwise exactly one regular
    file must start with a bash shebang and contain an ``#SBATCH`` line.
    """
    preferred = scripts_dir / protocol.SUBMISSION_SCRIPT
    if preferred.is_file() and not preferred.is_symlink():
        return preferred, []
    try:
        files = sorted(p for p in scripts_dir.iterdir() if p.is_file() and not p.is_symlink())
    except OSError as exc:
        return None, [f"The folder 'scripts/' cannot be read ({exc.strerror})."]
    candidates = [p for p in files if _looks_like_job_script(p)]
    if len(candidates) == 1:
        return candidates[0], []
    if not candidates:
        seen = ", ".join(p.name for p in files) if files else "nothing"
        return None, [
            "No job script found in 'scripts/' (it holds: "
            f"{seen}). Name your Slurm script '{protocol.SUBMISSION_SCRIPT}', or make sure "
            "it starts with '#!/bin/bash' and has at least one '#SBATCH' line."
        ]
    names = ", ".join(p.name for p in candidates)
    return None, [
        f"Several possible job scripts in 'scripts/': {names}. Rename the one to run to "
        f"'{protocol.SUBMISSION_SCRIPT}' (the others are then left alone)."
    ]


def _looks_like_job_script(path: Path) -> bool:
    try:
        with path.open("rb") as handle:
            head = handle.read(CANDIDATE_SCAN_BYTES)
    except OSError:
        return False
    text = head.decode("utf-8", "replace").removeprefix("\ufeff")
    first, _, rest = text.partition("\n")
    if not _BASH_SHEBANG.match(first.rstrip()):
        return False
    return any(line.startswith("#SBATCH") for line in rest.splitlines())


# -- checking the chosen script ----------------------------------------------


@dataclass(frozen=True)
class ScriptCheck:
    """What :func:`check_script` found in one job script."""

    problems: tuple[str, ...]
    notes: tuple[str, ...]
    script_text: str | None
    script_sha256: str | None
    directives: tuple[Directive, ...]


def check_script(path: Path, cfg: InstanceConfig, *, relative: str) -> ScriptCheck:
    """Check one job script and prepare the text to submit (the file itself is untouched)."""
    read = _read_script(path, relative)
    if isinstance(read, ScriptCheck):
        return read
    text, digest, notes = read
    problems: list[str] = []
    lines = text.split("\n")
    if not _ANY_SHEBANG.match(lines[0]):
        problems.append(
            f"'{relative}' does not start with a '#!' line; Slurm needs one. Make its first "
            "line '#!/bin/bash'."
        )

    home_lines = [
        str(number)
        for number, line in enumerate(lines, start=1)
        if _HOME_USER.search(line) and not _is_plain_comment(line)
    ]
    if home_lines:
        problems.append(
            f"'{relative}' uses $HOME or $USER (line {', '.join(home_lines)}). The job runs "
            "as the account that set up FlowCron, not as you, so these point somewhere "
            "else. Use paths relative to the Unit of Work (e.g. data/input.txt) or "
            "absolute project paths instead."
        )

    for warning in lint_script(text, relative, instance_dir=cfg.base_dir):
        if cfg.risky_script_policy == "reject":
            problems.append(
                warning.message + " (This FlowCron instance refuses such scripts: fix it "
                "and start the flow again.)"
            )
        else:
            notes.append("Warning: " + warning.message)

    directives = parse_directives(text)
    for d in directives:
        finding, is_problem = _directive_finding(d, cfg)
        (problems if is_problem else notes).append(finding)

    return ScriptCheck(
        problems=tuple(problems),
        notes=tuple(notes),
        script_text=text,
        script_sha256=digest,
        directives=tuple(directives),
    )


def _read_script(path: Path, relative: str) -> tuple[str, str, list[str]] | ScriptCheck:
    """The script's text as it will be submitted, its SHA-256 and notes on what was
    normalised, or the refusal when it cannot be a job script (too big, binary, not UTF-8).
    """
    try:
        size = path.stat().st_size
        if size > MAX_SCRIPT_BYTES:
            return _refused(
                f"'{relative}' is {_human_bytes(size)}; Slurm accepts job scripts up to "
                f"{_human_bytes(MAX_SCRIPT_BYTES)}. Keep data in 'data/' and read it "
                "from the script.",
                None,
            )
        raw = path.read_bytes()
    except OSError as exc:
        return _refused(f"'{relative}' cannot be read ({exc.strerror}).", None)
    digest = hashlib.sha256(raw).hexdigest()

    if b"\x00" in raw:
        return _refused(
            f"'{relative}' is a binary file, not a text job script. Put a bash script "
            "with '#SBATCH' lines there.",
            digest,
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return _refused(
            f"'{relative}' is not valid UTF-8 text (line {line}). Save it as UTF-8 "
            "(most editors offer this under 'Save as' or 'Encoding').",
            digest,
        )

    notes: list[str] = []
    if text.startswith("\ufeff"):
        text = text[1:]
        notes.append(
            f"'{relative}' starts with a byte-order mark; it was left out of the submitted "
            "copy (your file is unchanged)."
        )
    if "\r\n" in text:
        text = text.replace("\r\n", "\n")
        notes.append(
            f"'{relative}' has Windows (CRLF) line endings; the submitted copy uses Unix "
            "line endings (your file is unchanged)."
        )
    return text, digest, notes


def _refused(problem: str, digest: str | None) -> ScriptCheck:
    return ScriptCheck((problem,), (), None, digest, ())


def _directive_finding(d: Directive, cfg: InstanceConfig) -> tuple[str, bool]:
    """What the report says about one overridden ``#SBATCH`` line, and whether it refuses."""
    shown = f"#SBATCH {d.option}" + (f" {d.value}" if d.value is not None else "")
    if d.canonical in ("output", "error"):
        return (
            f"Line {d.line} ({shown}) is overridden: Slurm's output goes to "
            f"{protocol.SLURM_STDOUT.replace('%j', '<job id>')} and "
            f"{protocol.SLURM_STDERR.replace('%j', '<job id>')} in the Unit of Work.",
            False,
        )
    if d.canonical == "chdir":
        return (
            f"Line {d.line} ({shown}) is overridden: the job always runs in the Unit of "
            "Work's folder, so use paths relative to it.",
            False,
        )
    own = cfg.account if d.canonical == "account" else cfg.qos
    if cfg.account_qos_policy == "reject":
        return (
            f"Line {d.line} ({shown}) chooses the Slurm {d.canonical}, but this "
            f"FlowCron instance runs every job under its own {d.canonical}"
            + (f" ({own})" if own else "")
            + ". Remove that line and start the flow again.",
            True,
        )
    if own:
        return (
            f"Line {d.line} ({shown}) is overridden: this instance's {d.canonical} "
            f"'{own}' is used.",
            False,
        )
    return f"Line {d.line} ({shown}) applies: this instance sets no {d.canonical}.", False


def _is_plain_comment(line: str) -> bool:
    stripped = line.lstrip()
    return stripped.startswith("#") and not stripped.startswith("#SBATCH")


def parse_directives(text: str) -> list[Directive]:
    """The ``#SBATCH`` options the agent overrides, with their line numbers and values.

    Read by :mod:`hpc_agent.executors.sbatch`, the reader the local executor
    uses too: ``--opt=value``, ``--opt value``, ``-o value`` and ``-ovalue``,
    quotes and ``#`` comments, only the leading block, as sbatch reads them.
    """
    found: list[Directive] = []
    for option in script_options(text):
        canonical = _OVERRIDDEN.get(option.option) or _ACCOUNT_QOS.get(option.option)
        if canonical is not None:
            found.append(Directive(option.line, option.option, canonical, option.value))
    return found


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} bytes"  # pragma: no cover - loop always returns

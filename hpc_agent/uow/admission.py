"""Unit of Work admission: is an uploaded UoW fit to submit, and what exactly is submitted.

Pure functions over the file system: they read the UoW (names, link targets,
sizes and the job script) and never change it, never run a subprocess, so the
tick can admit hundreds of UoWs per run and flowgen can reuse them for a
local pre-flight (``flowgen uow check`` calls :func:`admit` with
``upload_complete=True``). Every rejection is a sentence that says what is
wrong and what to do about it.

A UoW with :data:`protocol.JOB_FILE` at its root calls one of the instance's
published functions (``<base>/Functions/``, :mod:`hpc_agent.functions`)
instead of bringing a script: ``scripts/`` is then optional (and not run),
and the job script is the one rendered from the call
(:func:`hpc_agent.functions.call.prepare_call`), which the admit step writes
into the UoW as :data:`protocol.RENDERED_SCRIPT`. The instance's
``run_policy`` says which of the two kinds it runs.

Every verdict on a complete upload names who started the run (``user``),
read from the flow's ``flowcron-starter/<username>/`` marker
(:mod:`hpc_agent.uow.starter`; ``unknown`` without one, with a note for the
report when the marker is odd). The admit step records it and then removes
the marker.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import stat
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.executors.sbatch import script_options
from hpc_agent.fs.names import entry_names
from hpc_agent.fs.treewalk import Entry, TreeWalk, link_escapes
from hpc_agent.functions.call import FunctionCall, prepare_call, read_job_file
from hpc_agent.functions.spec import Library, load_library
from hpc_agent.uow import upload as _upload
from hpc_agent.uow.rerun import EarlierRun, find_earlier_outputs
from hpc_agent.uow.script_lint import lint_script
from hpc_agent.uow.starter import Starter, read_starter

UploadState = _upload.UploadState
upload_state = _upload.upload_state
"""Where an upload stands (in :mod:`hpc_agent.uow.upload`, which status reads alone)."""

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

    For a UoW that calls a published function (``job.toml``): ``call`` is the
    checked call (None when refused), ``script_text`` the rendered job script
    (to be written into the UoW as :data:`protocol.RENDERED_SCRIPT` and
    submitted), ``script_sha256`` its hash, ``function_name`` the name
    ``job.toml`` gives (also when refused) and ``broken_function`` that name
    when the function is broken on this instance (the tick logs it for the PI).

    ``user`` is who started the run (the flow's starter marker,
    :func:`hpc_agent.uow.starter.read_starter`): ``unknown`` without one, and
    for an upload without ``sentinels/`` (pending, or refused as never
    completed), whose marker the flow may never have made.
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
    call: FunctionCall | None = None
    function_name: str | None = None
    broken_function: str | None = None
    user: str = protocol.UNKNOWN_STARTER

    @property
    def function(self) -> dict[str, Any] | None:
        """What the report says about the function call (see :meth:`FunctionCall.describe`).

        Only the name when the call was refused; None for a UoW with its own script.
        """
        if self.call is not None:
            return self.call.describe()
        return {"name": self.function_name} if self.function_name is not None else None


def admit(
    uow: Path,
    cfg: InstanceConfig,
    *,
    now: float | None = None,
    library: Library | None = None,
    upload_complete: bool = False,
) -> Admission:
    """Decide whether ``uow`` may be submitted, and prepare the script text to submit.

    ``library`` is the instance's published functions (default: read from
    ``<base>/Functions/``; the tick reads them once and passes them to every
    admission). ``upload_complete`` treats the upload as finished without
    ``sentinels/`` (``flowgen uow check`` checks a folder before it is uploaded).
    """
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
    if upload_complete and state == "uploading":
        state = "ready"
    walk = _walk(uow, cfg.max_uow_bytes)
    if state == "uploading":
        # Never read the marker here: without sentinels/ the flow may have
        # stopped because the upload brought its own (a forged) marker.
        return _still_uploading(cfg, walk, now)
    verdict = _admit_ready(uow, cfg, walk, state, library)
    if upload_complete:
        return _before_upload(uow, verdict)
    starter = handed_over_starter(uow)
    notes = verdict.notes + ((starter.note,) if starter.note else ())
    return replace(verdict, user=starter.user, notes=notes)


def handed_over_starter(uow: Path) -> Starter:
    """The starter of a handed-over upload; ``unknown`` while there is no ``sentinels``.

    The flow makes ``sentinels/`` only after the marker; without it the flow
    may have stopped because the upload brought its own marker (a forgery).
    """
    if upload_state(uow) == "uploading":
        return Starter(protocol.UNKNOWN_STARTER)
    return read_starter(uow)


def _before_upload(uow: Path, verdict: Admission) -> Admission:
    """``flowgen uow check``: a folder with its own starter marker is refused by the flow."""
    if not os.path.lexists(uow / protocol.STARTER_DIR):
        return verdict
    problem = (
        f"'{protocol.STARTER_DIR}' is a name FlowCron keeps for itself: the flow records "
        "there who started the run, and it stops before handing over a folder that already "
        f"has one, so nothing is run. Remove '{protocol.STARTER_DIR}' from your folder "
        "(it may have come from a copy of an earlier run) and start the flow again."
    )
    return replace(verdict, ok=False, problems=(*verdict.problems, problem), script_text=None)


def _admit_ready(
    uow: Path, cfg: InstanceConfig, walk: _Walk, state: UploadState, library: Library | None
) -> Admission:
    """The verdict on a complete upload (``sentinels/`` made, or ``upload_complete``)."""
    problems = _folder_problems(uow, cfg, walk, state)
    earlier = find_earlier_outputs(uow)
    ours = set(earlier.entries) if earlier else set()
    for reserved in (protocol.REPORT_JSON, protocol.REPORT_TEXT):
        if os.path.lexists(uow / reserved) and reserved not in ours:
            problems.append(
                f"'{reserved}' is the name of the report FlowCron writes into every Unit of "
                f"Work, and yours is not a FlowCron report; rename your '{reserved}' and "
                f"start the flow again (it is kept, renamed to '{reserved}.user')."
            )

    calls = os.path.lexists(uow / protocol.JOB_FILE)
    refusal = _policy_refusal(cfg, calls, library)
    if refusal is not None:
        problems.append(refusal)
        return Admission(ok=False, problems=tuple(problems), earlier=earlier)
    if calls:
        if library is None:
            library = load_library(cfg.path(protocol.FUNCTIONS))
        return _admit_call(uow, library, problems, earlier)
    return _admit_script(uow, cfg, problems, earlier)


def _still_uploading(cfg: InstanceConfig, walk: _Walk, now: float) -> Admission:
    """Pending, or refused once nothing changed for ``upload_timeout_days``."""
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


def _folder_problems(uow: Path, cfg: InstanceConfig, walk: _Walk, state: UploadState) -> list[str]:
    """What is wrong with the folder whatever it runs: sentinels, size, names, links."""
    problems: list[str] = []
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
    return problems


def _admit_script(
    uow: Path, cfg: InstanceConfig, problems: list[str], earlier: EarlierRun | None
) -> Admission:
    """The UoW brings its own job script in ``scripts/``."""
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


# -- a call of a published function -------------------------------------------


def _admit_call(
    uow: Path, library: Library, problems: list[str], earlier: EarlierRun | None
) -> Admission:
    """The UoW calls a published function: check every parameter and render the job script."""
    problems.extend(layout_problems(uow, calls_function=True))
    name = read_job_file(uow)[0]
    call, call_problems = prepare_call(uow, library)
    problems.extend(call_problems)
    rendered = call.rendered.script if call is not None and call.rendered is not None else None
    earlier, problem = _rendered_script_in_the_way(uow, rendered, earlier)
    if problem is not None:
        problems.append(problem)
    notes: list[str] = []
    if call is not None:
        notes.append(
            f"This Unit of Work called the function {call.function.name!r} "
            f"(version {call.function.version}) with its '{protocol.JOB_FILE}'; the job "
            f"script FlowCron rendered from it is '{protocol.RENDERED_SCRIPT}' in this "
            "folder: exactly what was submitted."
        )
    if os.path.lexists(uow / protocol.SCRIPTS_DIR):
        notes.append(
            f"This folder has both '{protocol.JOB_FILE}' and '{protocol.SCRIPTS_DIR}/': "
            f"the function '{protocol.JOB_FILE}' names is what runs, so nothing in "
            f"'{protocol.SCRIPTS_DIR}/' was run (remove '{protocol.JOB_FILE}' to run your "
            "own script instead)."
        )
    ok = not problems and call is not None
    return Admission(
        ok=ok,
        problems=tuple(problems),
        notes=tuple(notes),
        script_text=rendered if ok else None,
        script_sha256=hashlib.sha256(rendered.encode("utf-8")).hexdigest() if rendered else None,
        earlier=earlier,
        call=call if ok else None,
        function_name=name,
        broken_function=name if name is not None and name in library.broken else None,
    )


def _rendered_script_in_the_way(
    uow: Path, rendered: str | None, earlier: EarlierRun | None
) -> tuple[EarlierRun | None, str | None]:
    """(what to archive, a problem) for what is at :data:`protocol.RENDERED_SCRIPT` now.

    A file with exactly the bytes rendered now stays (it is rewritten with
    the same bytes: the same call run again, or an admission a crash cut
    short); another script FlowCron rendered is an earlier run's, archived;
    anything else is the user's, and refused like a file at a report's name.
    """
    path = uow / protocol.RENDERED_SCRIPT
    if not os.path.lexists(path):
        return earlier, None
    if rendered is not None and _same_bytes(path, rendered.encode("utf-8")):
        if earlier is not None and protocol.RENDERED_SCRIPT in earlier.entries:
            left = tuple(e for e in earlier.entries if e != protocol.RENDERED_SCRIPT)
            earlier = EarlierRun(earlier.label, left) if left else None
        return earlier, None
    if earlier is not None and protocol.RENDERED_SCRIPT in earlier.entries:
        return earlier, None
    return earlier, (
        f"'{protocol.RENDERED_SCRIPT}' is the name of the job script FlowCron writes into a "
        f"Unit of Work that calls a function, and yours is not one FlowCron wrote; rename "
        f"or remove your '{protocol.RENDERED_SCRIPT}' and start the flow again."
    )


def _same_bytes(path: Path, expected: bytes) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return False
        return os.read(fd, len(expected) + 1) == expected
    except OSError:
        return False
    finally:
        os.close(fd)


def _policy_refusal(cfg: InstanceConfig, calls: bool, library: Library | None) -> str | None:
    """Why the instance's ``run_policy`` refuses this kind of UoW, or None."""
    if cfg.run_policy == "scripts" and calls:
        return (
            f"This FlowCron instance runs only job scripts, not published functions, so the "
            f"'{protocol.JOB_FILE}' in this Unit of Work cannot run here. Remove "
            f"'{protocol.JOB_FILE}', put your Slurm job script into "
            f"'{protocol.SCRIPTS_DIR}/{protocol.SUBMISSION_SCRIPT}' and start the flow again."
        )
    if cfg.run_policy == "functions" and not calls:
        if library is None:
            library = load_library(cfg.path(protocol.FUNCTIONS))
        return (
            "This FlowCron instance runs only its published functions, not job scripts "
            f"you bring, so '{protocol.SCRIPTS_DIR}/' is not run here. Put a "
            f"'{protocol.JOB_FILE}' at the top of the folder that names one of them "
            "(`flowgen uow new` writes one) and start the flow again. " + function_listing(library)
        )
    return None


def function_listing(library: Library) -> str:
    """The instance's functions as a sentence: each name with its one-line description."""
    if not library.functions:
        extra = f" ({len(library.broken)} broken)" if library.broken else ""
        return f"It has no working function at the moment{extra}; ask the instance's owner."
    listed = "; ".join(
        f"{name} ({library.functions[name].description})" for name in sorted(library.functions)
    )
    broken = (
        f" Broken at the moment: {', '.join(sorted(library.broken))}." if library.broken else ""
    )
    return f"Its functions: {listed}.{broken}"


# -- the folder layout -------------------------------------------------------


def layout_problems(uow: Path, *, calls_function: bool = False) -> list[str]:
    """A sentence for each of ``data/`` and ``scripts/`` that is missing, with a likely fix.

    Folder names are case-sensitive on the HPC, so ``Data/`` from a Mac or
    Windows machine is not ``data/``: the message names the near miss. A job
    script at the top of the folder, or a UoW one level further down (the
    flow was started on the folder around it), is named too. A UoW that
    ``calls_function`` (it has a ``job.toml``) needs no ``scripts/``.
    """
    problems: list[str] = []
    names = entry_names(uow)
    wanted = (protocol.DATA_DIR,) if calls_function else (protocol.DATA_DIR, protocol.SCRIPTS_DIR)
    for sub in wanted:
        if (uow / sub).is_dir() and not (uow / sub).is_symlink():
            continue
        problem = f"The folder '{sub}/' is missing. " + (
            f"A Unit of Work that calls a function holds your files in "
            f"'{protocol.DATA_DIR}/', beside its '{protocol.JOB_FILE}'."
            if calls_function
            else f"A Unit of Work holds your files in '{protocol.DATA_DIR}/' and exactly "
            f"one Slurm job script in '{protocol.SCRIPTS_DIR}/'."
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
    skip = (protocol.SENTINELS_DIR, protocol.STARTER_DIR)
    folders = [n for n in names if n not in skip and (uow / n).is_dir()]
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

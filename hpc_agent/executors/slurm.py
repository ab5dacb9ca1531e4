"""The ``slurm`` executor: sbatch, sacct, squeue, scontrol and scancel as argv lists.

Every Slurm command runs without a shell, with a time-out, in the inherited
environment (so ``SLURM_CONF`` and a site's PATH apply). Their output is read by
the pure ``parse_*`` functions below, which are unit-tested on text recorded
from a real Slurm 22.05. Status is one batched call per tick: ``sacct
--duplicates`` when accounting is enabled (every record under each id, so a
job that was given a lost job's id is never mistaken for it; plus one
``squeue`` for the ids of records slurmdbd does not have the name of yet, so
the controller names them); otherwise
``squeue`` for every job the controller still holds, plus one ``scontrol show
job`` for the exit codes of those that ended. Job arrays (``4515_1``...) and
heterogeneous jobs (``4515+0``...) come back as one JobInfo per id sbatch
printed, with a task per array task or component.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pwd
import re
import subprocess
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from hpc_agent.executors.base import (
    ExecutorError,
    JobInfo,
    JobSpec,
    SchedulerUnavailable,
    SubmitRejected,
    base_job_id,
    combine,
    is_part,
    newest_per_task,
    task_count,
    task_ids,
)
from hpc_agent.fs.atomicio import write_text_atomic

DEFAULT_TIMEOUT = 30.0
"""Seconds any one Slurm command may take before the scheduler counts as unreachable."""

ACCOUNTING_FILE = "slurm-accounting.json"
"""Whether the cluster keeps accounting, remembered between ticks in ``CodeToRun/.state/``."""

ACCOUNTING_MAX_AGE = 3600.0
"""Seconds a remembered answer about accounting is trusted before sacct is asked again."""

SACCT_FIELDS = (
    "JobID",
    "JobName",
    "State",
    "ExitCode",
    "Elapsed",
    "NodeList",
    "Submit",
    "Start",
    "End",
    "Reason",
    "JobIDRaw",
)
SQUEUE_FORMAT = "%i|%j|%T|%r|%N|%V|%S|%e|%M|%A"
"""Job id, name, state, reason, nodes, submit, start, end, elapsed, raw id (an array task's own)."""

UNNAMED_IN_ACCOUNTING = "allocation"
"""What sacct prints as the name of a job whose full record slurmdbd has not received yet.

Right after a controller (re)start this lasts a few seconds, also for jobs
that already ended: such a record's name is unknown, not "allocation"."""

COMMENT_MAX_CHARS = 250
"""A job comment is cut to this many characters (the agent's are far shorter)."""

FIND_WINDOW = "now-30days"
"""How far back ``find_by_name`` asks sacct (its default window starts at midnight)."""

_ARG_BUDGET = 100_000
"""Characters of names per ``--name`` list: Linux caps one argument at 128 KiB."""

_UNREACHABLE = (
    "unable to contact slurm controller",
    "connection refused",
    "socket timed out",
    "timed out",
    "zero bytes were transmitted",
    "persistent connection",
    "slurm_persist_conn",
    "communication connection failure",
    "transport endpoint",
    "no route to host",
    "network is unreachable",
    "munge",
    "authentication error",
    "temporarily unable to accept job",
    "slurmctld is down",
    # No slurm.conf found (SLURM_CONF unset on a configless site without DNS SRV).
    "could not establish a configuration source",
)
"""Message fragments that mean the scheduler could not be reached, not that it said no."""

_ALREADY_ENDED = (
    "already completing or completed",
    "invalid job id specified",
)
_ASSOC_FORMAT = ("format=Cluster,Account,QOS",)
_NAME_FORMAT = ("--format=JobID,JobName,Submit",)
_NO_VALUE = frozenset({"", "unknown", "none", "n/a", "(null)", "none assigned"})
_SCONTROL_KEY = re.compile(r"(?:^|\s)([A-Za-z][A-Za-z0-9_:/]*)=")


# -- generating the submission -----------------------------------------------


def slurm_filename(directory: Path, pattern: str) -> str:
    """``directory/pattern`` for ``--output``/``--error``, with ``directory`` taken literally.

    Slurm expands ``%u``, ``%j``... anywhere in these paths, so a UoW named
    ``pct%u`` would send its output into a sibling folder; ``%%`` is Slurm's
    escape for a literal ``%``. Only ``pattern`` (``slurm-%j.out``) is meant
    to be expanded. (A ``\\`` would turn all expansion off, so admission
    refuses UoW names containing one.)

    >>> slurm_filename(Path("/p/pct%u"), "slurm-%j.out")
    '/p/pct%%u/slurm-%j.out'
    >>> slurm_filename(Path("/p/x"), "/dev/null")
    '/dev/null'
    """
    if pattern.startswith("/"):  # e.g. /dev/null for the finalize job: no directory to escape
        return pattern
    return str(directory).replace("%", "%%") + "/" + pattern


def slurm_comment(text: str) -> str:
    """``text`` as a job comment every Slurm tool shows whole: printable ASCII, no ``|``.

    ``sacct -P`` and ``squeue -o`` separate fields with ``|``, and a control
    character or a newline would break a line of their output; anything else
    becomes ``_``. Capped at :data:`COMMENT_MAX_CHARS` characters. No quoting is
    needed: the comment is one argument of sbatch's argv (no shell).

    >>> slurm_comment("flowcron user=ann|o'brien\\n")
    "flowcron user=ann_o'brien_"
    """
    kept = "".join(c if " " <= c <= "~" and c != "|" else "_" for c in text)
    return kept[:COMMENT_MAX_CHARS]


def sbatch_argv(spec: JobSpec, *, sbatch: str = "sbatch") -> list[str]:
    """The exact sbatch command line for ``spec`` (pure; every value is its own argument).

    Output and error files are absolute inside the job's working directory, so
    they land in the UoW whatever directory the agent runs from.
    """
    workdir = str(spec.workdir)
    argv = [
        sbatch,
        "--parsable",
        "--job-name",
        spec.name,
        "--chdir",
        workdir,
        "--output",
        slurm_filename(spec.workdir, spec.stdout),
        "--error",
        slurm_filename(spec.workdir, spec.stderr),
    ]
    if spec.account:
        argv += ["--account", spec.account]
    if spec.qos:
        argv += ["--qos", spec.qos]
    if spec.dependency:
        argv += ["--dependency", spec.dependency]
    if spec.comment:
        argv += ["--comment", slurm_comment(spec.comment)]
    argv += list(spec.extra)
    argv.append(str(spec.script))
    argv += list(spec.args)
    return argv


# -- pure parsers -------------------------------------------------------------


def parse_sbatch_parsable(stdout: str) -> str:
    """The job id from ``sbatch --parsable`` output (``123`` or ``123;cluster``).

    Raises ValueError when the output holds no job id.
    """
    for line in stdout.splitlines():
        token = line.strip().split(";", 1)[0].strip()
        if token:
            if re.fullmatch(r"\d+(?:_\d+)?", token):
                return token
            raise ValueError(f"sbatch printed {line.strip()!r} instead of a job id")
    raise ValueError("sbatch printed no job id")


def normalize_state(text: str) -> str:
    """Slurm's state word: ``CANCELLED by 0`` -> ``CANCELLED``, ``COMPLETED+`` -> ``COMPLETED``."""
    words = text.strip().split()
    return words[0].rstrip("+").upper() if words else "UNKNOWN"


def normalize_elapsed(text: str) -> str | None:
    """Elapsed time as sacct writes it, ``[D-]HH:MM:SS`` (squeue writes ``M:SS``)."""
    text = text.strip()
    if text.lower() in _NO_VALUE or text == "INVALID":
        return None
    days, _, clock = text.rpartition("-")
    parts = clock.split(":")
    if not all(part.isdigit() for part in parts) or not 1 <= len(parts) <= 3:
        return text
    while len(parts) < 3:
        parts.insert(0, "0")
    hours, minutes, seconds = (int(part) for part in parts)
    body = f"{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{int(days)}-{body}" if days.isdigit() else body


def _value(text: str) -> str | None:
    text = text.strip()
    return None if text.lower() in _NO_VALUE else text


def _info(
    job_id: str,
    state: str,
    *,
    exit_code: str | None = None,
    elapsed: str | None = None,
    node: str | None = None,
    submit: str | None = None,
    start: str | None = None,
    end: str | None = None,
    reason: str | None = None,
    name: str | None = None,
    raw_id: str | None = None,
    unnamed: bool = False,
) -> JobInfo:
    info = JobInfo(job_id=job_id, state=normalize_state(state))
    ended = info.finished
    submit_time = _value(submit or "")
    nodes = _value(node or "")
    return JobInfo(
        job_id=job_id,
        state=info.state,
        exit_code=_value(exit_code or "") if ended else None,
        elapsed=normalize_elapsed(elapsed or ""),
        node=nodes,
        submit_time=submit_time,
        # squeue and scontrol show a pending job's *expected* start and a running
        # job's *expected* end, and sacct gives a job cancelled while it waited
        # (no node) a start time: only times that happened are reported.
        start_time=_value(start or "") if info.state != "PENDING" and nodes else None,
        end_time=_value(end or "") if ended else None,
        reason=_value(reason or ""),
        name=(name or None),
        submit_epoch=slurm_time_epoch(submit_time),
        raw_id=_value(raw_id or "") or (None if is_part(job_id) else job_id),
        count=task_count(job_id),
        unnamed=unnamed,
    )


def assemble(records: Iterable[JobInfo]) -> dict[str, JobInfo]:
    """One JobInfo per id sbatch printed, from single records (tasks, components, duplicates).

    The newest record of each task makes up the job (for a plain job, the
    newest job under that id, as ``sacct`` without ``--duplicates`` shows);
    the records it left out are kept in ``others`` for :func:`~hpc_agent.executors.base.claim`.
    """
    groups: dict[str, list[JobInfo]] = {}
    for record in records:
        groups.setdefault(base_job_id(record.job_id), []).append(record)
    jobs: dict[str, JobInfo] = {}
    for job_id, group in groups.items():
        newest = newest_per_task(group)
        chosen = {id(record) for record in newest}
        job = combine(job_id, newest)
        others = tuple(record for record in group if id(record) not in chosen)
        jobs[job_id] = dataclasses.replace(job, others=others) if others else job
    return jobs


def _split_fields(line: str, count: int) -> list[str] | None:
    """Split a ``|``-separated line whose second field (the job name) may contain ``|``."""
    first, sep, rest = line.partition("|")
    if not sep:
        return None
    tail = rest.rsplit("|", count - 2)
    if len(tail) != count - 1:
        return None
    return [first, *tail]


def parse_sacct_records(text: str) -> list[JobInfo]:
    """Every record of ``sacct -n -P -X [-D] --format=<SACCT_FIELDS>``, in order.

    One per job, array task or heterogeneous component (and, with
    ``--duplicates``, per job that ever had the id). Step lines are skipped.
    """
    records: list[JobInfo] = []
    for line in text.splitlines():
        fields = _split_fields(line.strip(), len(SACCT_FIELDS))
        if fields is None:
            continue
        job_id, name, state, exit_code, elapsed, node, submit, start, end, reason, raw = fields
        if "." in job_id or not job_id:  # a step line, should -X ever be dropped
            continue
        unnamed = name == UNNAMED_IN_ACCOUNTING
        records.append(
            _info(
                job_id,
                state,
                exit_code=exit_code,
                elapsed=elapsed,
                node=node,
                submit=submit,
                start=start,
                end=end,
                reason=reason,
                name=None if unnamed else name,
                raw_id=raw,
                unnamed=unnamed,
            )
        )
    return records


def parse_sacct(text: str) -> dict[str, JobInfo]:
    """Jobs from ``sacct -n -P -X [-D] --format=<SACCT_FIELDS>``, one per id sbatch printed.

    The newest record of each id (or each array task) wins; see :func:`assemble`.
    """
    return assemble(parse_sacct_records(text))


def name_from_controller(records: Sequence[JobInfo], held: Sequence[JobInfo]) -> list[JobInfo]:
    """Accounting records without a name yet, named from the controller's record of the same job.

    The same job is the same id and the same submit time: a record under a
    reused id, submitted at another time, stays unnamed.
    """
    names: dict[tuple[str, str | None], str] = {
        (r.job_id, r.submit_time): r.name for r in held if r.name and r.submit_time
    }
    named: list[JobInfo] = []
    for record in records:
        name = names.get((record.job_id, record.submit_time)) if record.unnamed else None
        named.append(dataclasses.replace(record, name=name, unnamed=False) if name else record)
    return named


# -- array tasks slurmdbd has no record of yet (FlowCron issue: false array outcome) --

UNACCOUNTED_STATE = "COMPLETING"
"""The state given to an array task the controller holds but slurmdbd has no record of yet.

Not a terminal state: the job's outcome waits until accounting has the task."""


def ended_part_jobs(records: Sequence[JobInfo]) -> set[str]:
    """Ids of arrays and heterogeneous jobs whose every accounting record has ended."""
    parts: dict[str, bool] = {}
    for record in records:
        if is_part(record.job_id):
            job_id = base_job_id(record.job_id)
            parts[job_id] = parts.get(job_id, True) and record.finished
    return {job_id for job_id, ended in parts.items() if ended}


def hold_unaccounted_tasks(
    records: Sequence[JobInfo], held: Sequence[JobInfo], job_ids: Iterable[str]
) -> list[JobInfo]:
    """``records`` (sacct) plus the tasks of ``job_ids`` only the controller (``held``) shows.

    slurmdbd creates an array task's record when the task starts, and on a
    busy machine it can get that record seconds after it got the end of the
    array's last task (the one whose record holds the array's own id): sacct
    then lists ``7_1``, ``7_2`` and ``7_4``, all ended, and no ``7_3`` at all,
    so the array would look ended with an outcome that leaves task 3 out. A
    task the controller holds (same job: same id and submit time) that sacct
    does not list is added, queued or running as the controller says, or, if
    it has ended there, as :data:`UNACCOUNTED_STATE`: the outcome waits for
    its accounting record, which has the exit code.
    """
    wanted = set(job_ids)
    covered: dict[str, set[str]] = {}
    submits: dict[str, set[str | None]] = {}
    for record in records:
        job_id = base_job_id(record.job_id)
        covered.setdefault(job_id, set()).update(task_ids(record.job_id) or [record.job_id])
        submits.setdefault(job_id, set()).add(record.submit_time)
    added: list[JobInfo] = []
    for record in held:
        job_id = base_job_id(record.job_id)
        if job_id not in wanted or not is_part(record.job_id):
            continue
        if record.submit_time not in submits.get(job_id, set()):
            continue  # another job under a reused id
        ids = task_ids(record.job_id) or [record.job_id]
        if all(task in covered[job_id] for task in ids):
            continue
        if record.finished:
            record = dataclasses.replace(
                record,
                state=UNACCOUNTED_STATE,
                exit_code=None,
                end_time=None,
                reason=f"{record.state} in the controller, not in the accounting records yet",
            )
        added.append(record)
    return [*records, *added]


def parse_squeue_records(text: str) -> list[JobInfo]:
    """Every line of ``squeue -h -t all -o SQUEUE_FORMAT`` (no exit codes: squeue has none)."""
    records: list[JobInfo] = []
    for line in text.splitlines():
        fields = _split_fields(line.strip(), 10)
        if fields is None:
            continue
        job_id, name, state, reason, node, submit, start, end, elapsed, raw = fields
        records.append(
            _info(
                job_id,
                state,
                elapsed=elapsed,
                node=node,
                submit=submit,
                start=start,
                end=end,
                reason=reason,
                name=name,
                raw_id=raw,
            )
        )
    return records


def parse_squeue(text: str) -> dict[str, JobInfo]:
    """Jobs from ``squeue -h -t all -o SQUEUE_FORMAT``, one per id sbatch printed."""
    return assemble(parse_squeue_records(text))


def parse_scontrol_fields(line: str) -> dict[str, str]:
    """``Key=value`` pairs of one ``scontrol show job -o`` line (values may contain spaces)."""
    matches = list(_SCONTROL_KEY.finditer(line))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        stop = matches[index + 1].start() if index + 1 < len(matches) else len(line)
        fields.setdefault(match.group(1), line[match.end() : stop].strip())
    return fields


def scontrol_display_id(fields: Mapping[str, str]) -> str | None:
    """The id squeue and sacct show for one ``scontrol show job -o`` line.

    ``JobId=4517 ArrayJobId=4515 ArrayTaskId=3`` is ``4515_3`` (a pending
    range ``ArrayTaskId=3-4`` is ``4515_[3-4]``); ``JobId=4516 HetJobId=4515
    HetJobOffset=1`` is ``4515+1``; a plain job is its ``JobId``.
    """
    job_id = fields.get("JobId")
    array, task = fields.get("ArrayJobId"), fields.get("ArrayTaskId")
    if array and task:
        return f"{array}_{task}" if task.isdigit() else f"{array}_[{task}]"
    het, offset = fields.get("HetJobId"), fields.get("HetJobOffset")
    if het and offset and offset.isdigit():
        return f"{het}+{offset}"
    return job_id or None


def parse_scontrol_jobs(text: str) -> dict[str, JobInfo]:
    """Jobs from ``scontrol show job -o`` (one line per job, array task or component).

    Keyed by the id squeue shows (see :func:`scontrol_display_id`); ``raw_id``
    is scontrol's own ``JobId``.
    """
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        fields = parse_scontrol_fields(line)
        job_id = scontrol_display_id(fields)
        if not job_id or "JobState" not in fields:
            continue
        jobs[job_id] = _info(
            job_id,
            fields["JobState"],
            exit_code=fields.get("ExitCode"),
            elapsed=fields.get("RunTime"),
            node=fields.get("NodeList"),
            submit=fields.get("SubmitTime"),
            start=fields.get("StartTime"),
            end=fields.get("EndTime"),
            reason=fields.get("Reason"),
            name=fields.get("JobName"),
            raw_id=fields.get("JobId"),
        )
    return jobs


def slurm_time_epoch(text: str | None) -> float | None:
    """Seconds since the epoch of a Slurm time (``2026-01-31T12:00:00``, this host's local time).

    None for ``Unknown``, ``None`` and anything else unreadable.
    """
    value = _value(text or "")
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def parse_names(text: str, *, submitted_after: float | None = None) -> dict[str, str]:
    """``name -> id`` from ``id|name|submit`` lines (squeue ``%i|%j|%V``, sacct
    ``JobID,JobName,Submit``); ``id|name`` lines are read too.

    An array task (``7_2``, ``7_[3-4]``) or heterogeneous component (``7+1``)
    stands for the id sbatch printed (``7``). When several jobs share a name
    the most recently submitted wins (then the highest id: ids start again
    low after a controller lost its state). With ``submitted_after`` (seconds
    since the epoch), a job submitted before it is ignored; one whose submit
    time is unreadable is kept.
    """
    found: dict[str, tuple[float, int]] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 2:
            continue
        job_id = base_job_id(fields[0])
        if len(fields) >= 3:
            name, submit = "|".join(fields[1:-1]), slurm_time_epoch(fields[-1])
        else:
            name, submit = fields[1], None
        if not job_id.isdigit() or not name or name == UNNAMED_IN_ACCOUNTING:
            continue
        if submitted_after is not None and submit is not None and submit < submitted_after:
            continue
        key = (submit if submit is not None else float("inf"), int(job_id))
        if name not in found or key > found[name]:
            found[name] = key
    return {name: str(key[1]) for name, key in found.items()}


CONFIG_TIME_KEY = "ConfigurationDataAsOf"
"""Where :func:`parse_config` puts the controller's clock from the output's first line."""
_CONFIG_TIME = re.compile(r"^Configuration data as of (\S+)")


def parse_config(text: str) -> dict[str, str]:
    """``Key = value`` pairs of ``scontrol show config`` (the footer is skipped).

    The header ``Configuration data as of <time>`` is the controller's clock
    when it answered; it is kept under :data:`CONFIG_TIME_KEY`.
    """
    config: dict[str, str] = {}
    for line in text.splitlines():
        if match := _CONFIG_TIME.match(line):
            config[CONFIG_TIME_KEY] = match.group(1)
            continue
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            config.setdefault(key.strip(), value.strip())
    return config


def config_seconds(value: str | None) -> int | None:
    """A duration from ``scontrol show config`` (``60 sec``, ``300``) in seconds; None if unreadable."""
    if value is None:
        return None
    number, _, unit = value.strip().partition(" ")
    if not number.isdigit() or unit.strip() not in ("", "sec", "secs", "seconds"):
        return None
    return int(number)


def config_accounting(config: Mapping[str, str]) -> bool:
    """Whether the controller stores job accounting (``AccountingStorageType`` is not none)."""
    kind = config.get("AccountingStorageType", "").strip().lower()
    return kind not in ("", "accounting_storage/none", "(null)")


def is_unreachable(message: str) -> bool:
    """Whether a Slurm command's error means "could not reach the scheduler"."""
    lowered = message.lower()
    return any(fragment in lowered for fragment in _UNREACHABLE)


def accounting_disabled(message: str) -> bool:
    """Whether sacct said that this cluster keeps no accounting."""
    return "accounting storage is disabled" in message.lower()


# -- running Slurm commands ---------------------------------------------------


def _run(argv: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run a Slurm command; a missing command or a time-out is SchedulerUnavailable."""
    try:
        return subprocess.run(
            list(argv),
            capture_output=True,
            text=True,
            # Another job's name or a message may hold bytes that are not UTF-8;
            # our own job names are ASCII (uow.record.job_name), so nothing we match is lost.
            encoding="utf-8",
            errors="replace",
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError as exc:
        raise SchedulerUnavailable(
            f"{argv[0]} is not on PATH ({exc.strerror}): install Slurm's client commands or "
            "load them (e.g. `module load slurm`) in the environment the agent runs in"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise SchedulerUnavailable(f"{argv[0]} did not answer within {timeout:g} s") from exc


def _message(result: subprocess.CompletedProcess[str]) -> str:
    text = (result.stderr or "").strip() or (result.stdout or "").strip()
    return text or f"exit status {result.returncode}"


def _fail(command: str, result: subprocess.CompletedProcess[str]) -> ExecutorError:
    message = _message(result)
    if is_unreachable(message):
        return SchedulerUnavailable(f"{command}: {message}")
    return ExecutorError(f"{command} failed: {message}")


def detect_accounting(*, timeout: float = DEFAULT_TIMEOUT) -> bool:
    """Whether this cluster keeps job accounting (sacct works).

    Raises SchedulerUnavailable when sacct is missing or slurmdbd does not answer.
    """
    result = _run(["sacct", "-n", "-P", "-X", "--format=JobID", "-S", "now", "-E", "now"], timeout)
    if result.returncode == 0:
        return True
    if accounting_disabled(_message(result)):
        return False
    raise _fail("sacct", result)


def _user() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def show_config(*, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    """The controller's running configuration (``scontrol show config``), parsed.

    Raises SchedulerUnavailable when the controller does not answer.
    """
    result = _run(["scontrol", "show", "config"], timeout)
    if result.returncode != 0:
        raise _fail("scontrol show config", result)
    return parse_config(result.stdout)


def _cluster_name(timeout: float) -> str | None:
    return show_config(timeout=timeout).get("ClusterName") or None


def check_account_qos(
    account: str | None, qos: str | None, *, timeout: float = DEFAULT_TIMEOUT
) -> list[str]:
    """Problems with submitting as ``account`` under ``qos``, in words; empty when fine.

    Asks Slurm itself: the current user's associations on this cluster
    (``sacctmgr show assoc``) and the defined QoS (``sacctmgr show qos``).
    Without accounting Slurm checks neither, so nothing can be wrong.
    Raises SchedulerUnavailable when Slurm cannot be asked.
    """
    if account is None and qos is None:
        return []
    if not detect_accounting(timeout=timeout):
        return []
    user = _user()
    cluster = _cluster_name(timeout)
    result = _run(
        ["sacctmgr", "-n", "-P", "show", "assoc", "where", f"user={user}", *_ASSOC_FORMAT],
        timeout,
    )
    if result.returncode != 0:
        raise _fail("sacctmgr show assoc", result)
    allowed: dict[str, set[str]] = {}
    for line in result.stdout.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 3 or (cluster and parts[0] != cluster):
            continue
        qos_list = {name for name in parts[2].split(",") if name}
        allowed.setdefault(parts[1], set()).update(qos_list)
    where = f" on cluster {cluster}" if cluster else ""
    problems: list[str] = []
    if account is not None and account not in allowed:
        mine = ", ".join(sorted(allowed)) or "none"
        problems.append(
            f"Slurm account {account!r} is not available to user {user}{where}; "
            f"your accounts: {mine} (see `sacctmgr show assoc user={user}`)"
        )
    if qos is not None:
        result = _run(["sacctmgr", "-n", "-P", "show", "qos", "format=Name"], timeout)
        if result.returncode != 0:
            raise _fail("sacctmgr show qos", result)
        defined = {line.strip() for line in result.stdout.splitlines() if line.strip()}
        if qos not in defined:
            problems.append(
                f"QoS {qos!r} does not exist{where}; defined QoS: "
                f"{', '.join(sorted(defined)) or 'none'}"
            )
        else:
            accounts = [account] if account in allowed else list(allowed)
            usable = set().union(*(allowed[name] for name in accounts)) if accounts else set()
            if qos not in usable:
                whose = f"account {account!r}" if account in allowed else f"user {user}"
                problems.append(
                    f"QoS {qos!r} is not allowed for {whose}{where}; allowed: "
                    f"{', '.join(sorted(usable)) or 'none'}"
                )
    return problems


def _chunks(values: Sequence[str]) -> Iterable[list[str]]:
    """Split a name list so no single ``--name=`` argument outgrows the kernel's limit."""
    chunk: list[str] = []
    size = 0
    for value in values:
        if chunk and size + len(value) + 1 > _ARG_BUDGET:
            yield chunk
            chunk, size = [], 0
        chunk.append(value)
        size += len(value) + 1
    if chunk:
        yield chunk


def read_accounting(path: Path, *, now: float | None = None) -> bool | None:
    """The remembered answer in ``path`` (:data:`ACCOUNTING_FILE`), or None to ask sacct again.

    None when the file is missing or damaged, older than
    :data:`ACCOUNTING_MAX_AGE` (or dated in the future: the clock went back),
    or written for another Slurm (``SLURM_CONF`` differs).
    """
    now = time.time() if now is None else now
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    value, checked = data.get("accounting"), data.get("checked_at")
    if not isinstance(value, bool) or not isinstance(checked, (int, float)):
        return None
    if not 0 <= now - checked < ACCOUNTING_MAX_AGE:
        return None
    if data.get("slurm_conf") != os.environ.get("SLURM_CONF"):
        return None
    return value


def write_accounting(path: Path, value: bool, *, now: float | None = None) -> None:
    """Remember ``value`` in ``path``; best effort (a file that cannot be written costs one sacct)."""
    data = {
        "accounting": value,
        "checked_at": time.time() if now is None else now,
        "slurm_conf": os.environ.get("SLURM_CONF"),
    }
    with contextlib.suppress(OSError):
        write_text_atomic(path, json.dumps(data, sort_keys=True) + "\n")


class SlurmExecutor:
    """Runs UoW jobs on the Slurm cluster the environment points at.

    Whether the cluster keeps accounting is learnt from the status query itself,
    never asked separately: with the answer unknown (or older than
    :data:`ACCOUNTING_MAX_AGE`), the query tries ``sacct``, and a sacct that says
    accounting storage is disabled sends it to the controller in the same call.
    With ``accounting_file`` the answer is remembered there between processes
    (each tick is one), so a steady tick makes two Slurm calls: the ping and
    one batched query (without accounting, once an hour one more: the sacct
    that checks it is still off). ``accounting`` given is used as is.
    """

    name = "slurm"

    def __init__(
        self,
        *,
        timeout_seconds: float = DEFAULT_TIMEOUT,
        accounting: bool | None = None,
        accounting_file: Path | None = None,
    ) -> None:
        self.timeout = timeout_seconds
        self.accounting_file = accounting_file
        self._fixed = accounting is not None
        self._accounting = accounting
        self._learnt_at = time.monotonic()

    @property
    def accounting(self) -> bool:
        """Whether sacct is usable on this cluster (remembered, else detected with one sacct)."""
        known = self._known()
        if known is None:
            known = detect_accounting(timeout=self.timeout)
            self._remember(known)
        return known

    def _known(self) -> bool | None:
        """What is known about accounting without asking Slurm; None when it must be learnt."""
        if self._fixed:
            return self._accounting
        if self._accounting is not None and time.monotonic() - self._learnt_at >= (
            ACCOUNTING_MAX_AGE
        ):
            self._accounting = None  # a long `hpc-agent run` learns it again too
        if self._accounting is None and self.accounting_file is not None:
            self._accounting = read_accounting(self.accounting_file)
            self._learnt_at = time.monotonic()
        return self._accounting

    def _remember(self, value: bool) -> None:
        if self._fixed:
            return
        self._accounting = value
        self._learnt_at = time.monotonic()
        if self.accounting_file is not None:
            write_accounting(self.accounting_file, value)

    def _sacct_answered(self, result: subprocess.CompletedProcess[str]) -> bool:
        """Whether sacct answered; False when it said accounting is off (remembered).

        Any other failure raises, as a sacct failure always did.
        """
        if result.returncode == 0:
            if self._accounting is not True:
                self._remember(True)
            return True
        if accounting_disabled(_message(result)) and not self._fixed:
            self._remember(False)
            return False
        raise _fail("sacct", result)

    def submit(self, spec: JobSpec) -> str:
        """Submit with sbatch; SubmitRejected carries sbatch's own words."""
        result = _run(sbatch_argv(spec), self.timeout)
        if result.returncode != 0:
            message = _message(result)
            if is_unreachable(message):
                raise SchedulerUnavailable(f"sbatch: {message}")
            raise SubmitRejected(message)
        try:
            return parse_sbatch_parsable(result.stdout)
        except ValueError as exc:
            raise ExecutorError(str(exc)) from exc

    def query(self, job_ids: Sequence[str]) -> Mapping[str, JobInfo]:
        """One batched status query; ids Slurm no longer knows are absent."""
        ids = sorted({str(job_id) for job_id in job_ids}, key=_id_order)
        if not ids:
            return {}
        if self._known() is not False:
            jobs = self._query_sacct(ids)
            if jobs is not None:
                return jobs
        return self._query_controller(ids)

    def _query_sacct(self, ids: list[str]) -> dict[str, JobInfo] | None:
        """The jobs as sacct knows them; None when sacct said accounting is off."""
        # slurmdbd answers sacct even when the controller is down; the tick finds
        # an outage through ping(), which it calls first, so none is needed here.
        # --duplicates: without it sacct shows only the newest job with each id,
        # which after a controller lost its state may be another job entirely.
        argv = ["sacct", "-D", "-j", ",".join(ids), "-n", "-P", "-X"]
        result = _run([*argv, "--format=" + ",".join(SACCT_FIELDS)], self.timeout)
        if not self._sacct_answered(result):
            return None
        wanted = set(ids)
        records = [r for r in parse_sacct_records(result.stdout) if base_job_id(r.job_id) in wanted]
        unnamed = sorted({base_job_id(r.job_id) for r in records if r.unnamed}, key=_id_order)
        # An array that looks ended in sacct is checked against the controller,
        # which may hold a task slurmdbd has no record of yet (hold_unaccounted_tasks).
        ended = ended_part_jobs(records)
        if unnamed or ended:
            asked = sorted(set(unnamed) | ended, key=_id_order)
            held = self._controller_records(asked, required=bool(ended))
            if unnamed:
                records = name_from_controller(records, held)
            if ended:
                records = hold_unaccounted_tasks(records, held, ended)
        return assemble(records)

    def _controller_records(self, ids: list[str], *, required: bool = False) -> list[JobInfo]:
        """What the controller holds under ``ids`` (squeue); empty when it cannot say.

        Asked only when slurmdbd listed a job without its name yet (right after
        a job ended, or after a controller restart), or an array or
        heterogeneous job that looks ended: one more call per tick at most,
        whatever the number of jobs. Best effort for names: slurmdbd answers
        while the controller is down, and such records then simply stay
        unnamed. ``required`` (an ended-looking array): no answer raises
        SchedulerUnavailable, so no outcome is decided without the check
        (a controller that forgot every id is an answer: empty).
        """
        argv = ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", SQUEUE_FORMAT]
        try:
            result = _run(argv, self.timeout)
        except SchedulerUnavailable:
            if required:
                raise
            return []
        if result.returncode != 0:
            if required and "invalid job id specified" not in _message(result).lower():
                raise _fail("squeue", result)
            return []
        return parse_squeue_records(result.stdout)

    def _query_controller(self, ids: list[str]) -> dict[str, JobInfo]:
        argv = ["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", SQUEUE_FORMAT]
        result = _run(argv, self.timeout)
        if result.returncode != 0:
            message = _message(result)
            # squeue refuses a list made only of ids it has forgotten.
            if "invalid job id specified" not in message.lower():
                raise _fail("squeue", result)
            return {}
        wanted = set(ids)
        records = [
            r for r in parse_squeue_records(result.stdout) if base_job_id(r.job_id) in wanted
        ]
        if any(record.finished for record in records):
            # squeue cannot show exit codes. scontrol takes one id per call, so ask
            # once for every job the controller holds and keep the ended ones.
            result = _run(["scontrol", "show", "job", "-o"], self.timeout)
            if result.returncode != 0:
                raise _fail("scontrol show job", result)
            detailed = parse_scontrol_jobs(result.stdout)
            records = [detailed.get(r.job_id, r) if r.finished else r for r in records]
        return assemble(records)

    def ping(self) -> None:
        """``scontrol ping``: one RPC to slurmctld; SchedulerUnavailable unless it is UP."""
        result = _run(["scontrol", "ping"], self.timeout)
        if result.returncode != 0 or "is UP" not in result.stdout:
            raise SchedulerUnavailable(f"slurmctld is down: {_message(result)}")

    def find_by_name(
        self, names: Sequence[str], *, submitted_after: float | None = None
    ) -> Mapping[str, str]:
        """Jobs with these names, from the controller and, with accounting, from sacct.

        ``submitted_after`` (seconds since the epoch) ignores older jobs that
        had the same name, such as the earlier run of a retried UoW.
        """
        wanted = sorted(set(names))
        found: dict[str, str] = {}
        for chunk in _chunks(wanted):
            listed = ",".join(chunk)
            outputs = []
            result = _run(
                ["squeue", "-h", "-t", "all", f"--name={listed}", "-o", "%i|%j|%V"],
                self.timeout,
            )
            if result.returncode != 0:
                raise _fail("squeue", result)
            outputs.append(result.stdout)
            if self._known() is not False:
                result = _run(
                    # Not -S submitted_after: sacct refuses a start after its own
                    # "now", which a small clock difference could produce; the
                    # submit times are filtered here instead.
                    [
                        "sacct",
                        f"--name={listed}",
                        "-X",
                        "-n",
                        "-P",
                        "-S",
                        FIND_WINDOW,
                        *_NAME_FORMAT,
                    ],
                    self.timeout,
                )
                if self._sacct_answered(result):
                    outputs.append(result.stdout)
            merged = parse_names("\n".join(outputs), submitted_after=submitted_after)
            for name, job_id in merged.items():
                if name in chunk and (name not in found or int(job_id) > int(found[name])):
                    found[name] = job_id
        return found

    def cancel(self, job_id: str) -> None:
        """scancel; a job that already ended (or that Slurm forgot) is not an error."""
        result = _run(["scancel", str(job_id)], self.timeout)
        message = _message(result)
        if result.returncode == 0 and "error" not in (result.stderr or "").lower():
            return
        if any(fragment in message.lower() for fragment in _ALREADY_ENDED):
            return
        raise _fail("scancel", result)


def _id_order(job_id: str) -> tuple[int, str]:
    head = job_id.split("_", 1)[0]
    return (int(head) if head.isdigit() else -1, job_id)

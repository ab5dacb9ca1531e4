"""What Slurm's accounting says each finished job used: ONE batched ``sacct`` call.

``sacct -D -n -P -j <ids> -S <start> --format=<USAGE_FIELDS>``, without
``-X``: the allocation lines give the allocated TRES (``AllocTRES``:
``cpu=``, ``gres/gpu=``), the elapsed seconds and the submit and start times;
the step lines (``4515.batch``, ``4515_2.0``) give the peak memory
(``MaxRSS``, which the allocation line leaves empty). slurmdbd keeps jobs
long after the controller forgot them (``MinJobAge``), so this works for
every job the ledger still lists. ``-D`` shows every job that ever had an
id; the one submitted closest to when the agent submitted is chosen
(:func:`pick`). When the id list would outgrow one argument, the period is
asked for instead (``-S``/``-E``) and the ids are picked out of the answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Final

from hpc_agent.executors.base import ExecutorError, SchedulerUnavailable, base_job_id
from hpc_agent.executors.slurm import (
    DEFAULT_TIMEOUT,
    accounting_disabled,
    is_unreachable,
    normalize_state,
    slurm_time_epoch,
)
from hpc_agent.executors.slurm import _run as run_slurm

USAGE_FIELDS: Final = (
    "JobID",
    "JobIDRaw",
    "State",
    "Submit",
    "Start",
    "End",
    "ElapsedRaw",
    "AllocTRES",
    "MaxRSS",
)
ID_BUDGET: Final = 100_000
"""Characters of ids in one ``-j`` argument (Linux caps one argument at 128 KiB)."""
MARGIN_SECONDS: Final = 86_400
"""How much earlier than the first submission the ``-S`` window starts."""

_UNITS: Final = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_RSS = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)$", re.IGNORECASE)


class AccountingUnavailable(ExecutorError):
    """sacct could not answer (no accounting, slurmdbd down, no sacct): the ledger alone is used."""


@dataclass
class JobUsage:
    """What one job (all its array tasks or components together) used."""

    job_id: str
    state: str | None = None
    submit: float | None = None
    start: float | None = None
    end: float | None = None
    cpu_seconds: float = 0.0
    gpu_seconds: float = 0.0
    max_rss: int | None = None
    """Peak resident memory of any step, in bytes (None: sacct gave none)."""

    @property
    def wait(self) -> float | None:
        """Seconds from submission to the first start (None when it never started)."""
        if self.submit is None or self.start is None:
            return None
        return max(0.0, self.start - self.submit)


@lru_cache(maxsize=4096)  # a cluster's jobs repeat the same few values
def parse_rss(text: str) -> int | None:
    """Bytes of a ``MaxRSS`` value: ``1234K``, ``1.5G``, ``0``; None when empty.

    >>> parse_rss("2048K"), parse_rss("1.5M"), parse_rss("")
    (2097152, 1572864, None)
    """
    match = _RSS.match(text.strip())
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


@lru_cache(maxsize=4096)
def parse_tres(text: str) -> tuple[float, float]:
    """(CPUs, GPUs) of an ``AllocTRES`` value (``billing=2,cpu=2,gres/gpu=1,mem=4G,node=1``).

    ``gres/gpu=`` is the GPU count; a cluster that lists only typed GPUs
    (``gres/gpu:a100=2``) has them summed.

    >>> parse_tres("billing=4,cpu=4,gres/gpu:a100=1,gres/gpu:v100=2,mem=8G,node=1")
    (4.0, 3.0)
    """
    cpus = 0.0
    gpus: float | None = None
    typed = 0.0
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            continue
        try:
            number = float(value)
        except ValueError:
            continue
        if key == "cpu":
            cpus = number
        elif key == "gres/gpu":
            gpus = number
        elif key.startswith("gres/gpu:"):
            typed += number
    return cpus, gpus if gpus is not None else typed


def parse_usage(text: str) -> dict[str, list[JobUsage]]:
    """Each job id's usages (several under ``-D`` when Slurm reused the id), from sacct's lines.

    A step line belongs to the allocation line above it with the same id (sacct
    prints a job, then its steps), so steps of a reused id are never mixed up.
    """
    jobs: dict[tuple[str, float | None], JobUsage] = {}
    owner: dict[str, JobUsage] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != len(USAGE_FIELDS) or not fields[0]:
            continue
        job_id, _raw, state, submit, start, end, elapsed, tres, rss = fields
        head, dot, _step = job_id.partition(".")
        if dot:
            usage = owner.get(head)
            peak = parse_rss(rss)
            if usage is not None and peak is not None:
                usage.max_rss = peak if usage.max_rss is None else max(usage.max_rss, peak)
            continue
        submitted = slurm_time_epoch(submit)
        base = base_job_id(job_id)
        usage = jobs.setdefault((base, submitted), JobUsage(base, submit=submitted))
        owner[job_id] = usage
        _add_allocation(usage, state, start, end, elapsed, tres)
    found: dict[str, list[JobUsage]] = {}
    for usage in jobs.values():
        found.setdefault(usage.job_id, []).append(usage)
    return found


def _add_allocation(
    usage: JobUsage, state: str, start: str, end: str, elapsed: str, tres: str
) -> None:
    """Add one allocation line (the job, or one array task or component) to ``usage``."""
    seconds = float(elapsed) if elapsed.strip().isdigit() else 0.0
    cpus, gpus = parse_tres(tres)
    usage.cpu_seconds += cpus * seconds
    usage.gpu_seconds += gpus * seconds
    word = normalize_state(state)
    # An array's tasks may end differently: the worst state stands for the job.
    if usage.state is None or (usage.state == "COMPLETED" and word != "COMPLETED"):
        usage.state = word
    started = slurm_time_epoch(start)
    if started is not None and (usage.start is None or started < usage.start):
        usage.start = started
    ended = slurm_time_epoch(end)
    if ended is not None and (usage.end is None or ended > usage.end):
        usage.end = ended


def pick(usages: Sequence[JobUsage], submitted: float | None) -> JobUsage | None:
    """The usage of the job the agent submitted: submitted closest to ``submitted``."""
    if not usages:
        return None
    if submitted is None:
        return max(usages, key=lambda u: u.submit or 0.0)
    return min(usages, key=lambda u: abs((u.submit or 0.0) - submitted))


def sacct_argv(job_ids: Iterable[str], start: float, end: float | None) -> list[str]:
    """The one sacct command line for these jobs (pure; the window when the ids do not fit)."""
    ids = sorted(set(job_ids), key=lambda i: (len(i), i))
    argv = ["sacct", "-D", "-n", "-P", "-S", _slurm_time(start - MARGIN_SECONDS)]
    listed = ",".join(ids)
    if len(listed) <= ID_BUDGET:
        argv += ["-j", listed]
    elif end is not None:
        argv += ["-E", _slurm_time(end + MARGIN_SECONDS)]
    return [*argv, "--format=" + ",".join(USAGE_FIELDS)]


def fetch(
    job_ids: Sequence[str],
    *,
    start: float,
    end: float | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> dict[str, list[JobUsage]]:
    """Run the one sacct call for ``job_ids``; raises AccountingUnavailable when it cannot."""
    if not job_ids:
        return {}
    try:
        result = run_slurm(sacct_argv(job_ids, start, end), timeout)
    except SchedulerUnavailable as exc:
        raise AccountingUnavailable(str(exc)) from exc
    if result.returncode != 0:
        message = (result.stderr or result.stdout or "").strip() or f"exit {result.returncode}"
        if accounting_disabled(message):
            raise AccountingUnavailable("this cluster keeps no job accounting")
        word = "unreachable" if is_unreachable(message) else "failed"
        raise AccountingUnavailable(f"sacct {word}: {message.splitlines()[0]}")
    wanted = set(job_ids)
    return {k: v for k, v in parse_usage(result.stdout).items() if k in wanted}


def _slurm_time(epoch: float) -> str:
    """A time sacct reads (``2026-01-31T12:00:00``, this host's local time)."""
    return datetime.fromtimestamp(max(0.0, epoch)).strftime("%Y-%m-%dT%H:%M:%S")

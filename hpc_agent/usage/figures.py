"""The one computation behind ``hpc-agent usage`` and ``hpc-agent report --html``.

Data: the finished UoWs in the agent's ledger (:mod:`hpc_agent.usage.entry`
lists the fields finalize writes) whose hand-back falls in the period, plus
ONE batched ``sacct`` call for their job ids (:mod:`hpc_agent.usage.sacct`).
Without accounting (the local executor, a cluster without slurmdbd, sacct
failing) the figures come from the ledger alone, and :attr:`Usage.missing`
names the columns that are then empty and why.

Columns, per group (:data:`COLUMNS`):

* ``uows``, ``succeeded``, ``failed``, ``rejected``: the ledger's outcomes;
* ``cpu_hours``, ``gpu_hours``: sacct's allocated TRES (``cpu=``,
  ``gres/gpu=``) times the elapsed time, summed over array tasks;
* ``peak_memory``: the largest ``MaxRSS`` of any step (bytes);
* ``wait_median``, ``wait_p90``: queue wait, start minus submit (seconds),
  from sacct, else from the ledger's times;
* ``bytes``: what was handed back (the ledger).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Final

from hpc_agent import protocol
from hpc_agent.config import InstanceConfig
from hpc_agent.loop.state import SUCCEEDED, Ledger, StateStore
from hpc_agent.usage import GROUPINGS
from hpc_agent.usage.entry import FAILED, REJECTED
from hpc_agent.usage.sacct import AccountingUnavailable, JobUsage, fetch, pick

COLUMNS: Final = (
    "uows",
    "succeeded",
    "failed",
    "rejected",
    "cpu_hours",
    "gpu_hours",
    "peak_memory",
    "wait_median",
    "wait_p90",
    "bytes",
)
ACCOUNTING_COLUMNS: Final = ("cpu_hours", "gpu_hours", "peak_memory")
"""Columns only Slurm's accounting can fill."""
UNKNOWN: Final = "unknown"
NOT_RUN: Final = "NOT_RUN"
"""The ``state`` group of a UoW that never reached Slurm (rejected, or refused by sbatch)."""

Fetch = Callable[[Sequence[str], float, "float | None"], Mapping[str, Sequence[JobUsage]]]


@dataclass
class Item:
    """One finished UoW, as the ledger (and accounting) know it."""

    key: str
    uow: str
    user: str = UNKNOWN
    function: str = UNKNOWN
    outcome: str = FAILED
    state: str | None = None
    reason: str | None = None
    job_id: str | None = None
    admitted: float | None = None
    submitted: float | None = None
    started: float | None = None
    ended: float | None = None
    finished: float = 0.0
    bytes: int | None = None
    cpu_hours: float | None = None
    gpu_hours: float | None = None
    peak_memory: int | None = None
    wait: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The item as JSON-ready values."""
        return dict(self.__dict__)


@dataclass
class Group:
    """The figures of one group (one user, function, state or day), or of all."""

    name: str
    uows: int = 0
    succeeded: int = 0
    failed: int = 0
    rejected: int = 0
    cpu_hours: float | None = None
    gpu_hours: float | None = None
    peak_memory: int | None = None
    wait_median: float | None = None
    wait_p90: float | None = None
    bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The group as JSON-ready values (``name`` first, then :data:`COLUMNS`)."""
        return {"name": self.name, **{column: getattr(self, column) for column in COLUMNS}}


@dataclass
class Usage:
    """What ``usage`` prints and the report draws."""

    instance: str
    since: float | None
    until: float | None
    by: str
    groups: list[Group]
    total: Group
    items: list[Item]
    accounting: bool
    """Whether sacct's figures are in (False: from the ledger alone)."""
    missing: dict[str, str] = field(default_factory=dict)
    """Column -> why it is empty."""

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (without the items)."""
        return {
            "instance": self.instance,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "by": self.by,
            "accounting": self.accounting,
            "missing": dict(self.missing),
            "columns": list(COLUMNS),
            "groups": [group.to_dict() for group in self.groups],
            "total": self.total.to_dict(),
        }


# -- the ledger ------------------------------------------------------------------


def _num(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _str(value: object, default: str | None = None) -> str | None:
    return value if isinstance(value, str) and value else default


def item_from_entry(key: str, entry: object) -> Item | None:
    """The finished UoW of one ledger entry; None for entries that are no UoW of the agent.

    Entries written before usage existed have only ``at``, ``uow`` and
    ``job_id``: the outcome then follows from the directory (``FailedJobs/``
    without a job id: rejected), everything else is unknown.
    """
    if not isinstance(entry, dict) or not isinstance(entry.get("uow"), str):
        return None  # found by retention, or a stray folder: nothing the agent ran
    at = _num(entry.get("at")) or 0.0
    finished = _num(entry.get("finished")) or at
    job_id = _str(entry.get("job_id"))
    outcome = _str(entry.get("outcome"))
    if outcome not in (SUCCEEDED, FAILED, REJECTED):
        where = str(_str(entry.get("came_from")) or key)
        if where.startswith(protocol.ANALYSED + "/"):
            outcome = SUCCEEDED
        else:
            outcome = FAILED if job_id else REJECTED
    size = entry.get("bytes")
    return Item(
        key=key,
        uow=str(entry["uow"]),
        user=str(_str(entry.get("user"), UNKNOWN)),
        function=str(_str(entry.get("function"), UNKNOWN)),
        outcome=outcome,
        state=_str(entry.get("state")),
        reason=_str(entry.get("reason")),
        job_id=job_id,
        admitted=_num(entry.get("admitted")),
        submitted=_num(entry.get("submitted")),
        started=_num(entry.get("started")),
        ended=_num(entry.get("ended")),
        finished=finished,
        bytes=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


def items_in(entries: Mapping[str, object], since: float | None, until: float | None) -> list[Item]:
    """The finished UoWs handed back in ``[since, until)``, oldest first."""
    items: list[Item] = []
    for key, entry in entries.items():
        item = item_from_entry(key, entry)
        if item is None:
            continue
        if (since is not None and item.finished < since) or (
            until is not None and item.finished >= until
        ):
            continue
        if item.started is not None and item.submitted is not None:
            item.wait = max(0.0, item.started - item.submitted)
        items.append(item)
    items.sort(key=lambda i: (i.finished, i.key))
    return items


# -- accounting ------------------------------------------------------------------


def _sacct_fetch(timeout: float) -> Fetch:
    def run(ids: Sequence[str], start: float, end: float | None) -> Mapping[str, list[JobUsage]]:
        return fetch(ids, start=start, end=end, timeout=timeout)

    return run


def add_accounting(items: Sequence[Item], fetcher: Fetch) -> str | None:
    """Fill the accounting columns from ONE sacct call; the reason when it could not."""
    ran = [item for item in items if item.job_id]
    if not ran:
        return None
    start = min(item.submitted or item.admitted or item.finished for item in ran)
    end = max(item.finished for item in ran)
    try:
        found = fetcher([str(item.job_id) for item in ran], start, end)
    except AccountingUnavailable as exc:
        return str(exc)
    for item in ran:
        usage = pick(found.get(str(item.job_id), ()), item.submitted)
        if usage is None:
            continue
        item.cpu_hours = usage.cpu_seconds / 3600
        item.gpu_hours = usage.gpu_seconds / 3600
        item.peak_memory = usage.max_rss
        if usage.wait is not None:
            item.wait = usage.wait
        if usage.state and not item.state:
            item.state = usage.state
    return None


# -- grouping ----------------------------------------------------------------------


def group_key(item: Item, by: str) -> str:
    """The group ``item`` falls in when grouping ``by`` user, function, state or day (UTC)."""
    if by == "user":
        return item.user
    if by == "function":
        return item.function
    if by == "state":
        return item.state or NOT_RUN
    if by == "day":
        return datetime.fromtimestamp(item.finished, tz=timezone.utc).date().isoformat()
    raise ValueError(f"cannot group by {by!r}: use one of {', '.join(GROUPINGS)}")


def quantile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile of sorted ``values`` (linear between neighbours); None when empty.

    >>> quantile([1.0, 2.0, 3.0, 4.0], 0.5), quantile([10.0], 0.9), quantile([], 0.5)
    (2.5, 10.0, None)
    """
    if not values:
        return None
    where = (len(values) - 1) * q
    low = math.floor(where)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (where - low)


def summarize(name: str, items: Iterable[Item]) -> Group:
    """The figures of ``items`` as one group."""
    group = Group(name)
    waits: list[float] = []
    for item in items:
        group.uows += 1
        if item.outcome == SUCCEEDED:
            group.succeeded += 1
        elif item.outcome == REJECTED:
            group.rejected += 1
        else:
            group.failed += 1
        group.cpu_hours = _add(group.cpu_hours, item.cpu_hours)
        group.gpu_hours = _add(group.gpu_hours, item.gpu_hours)
        if item.peak_memory is not None:
            group.peak_memory = max(group.peak_memory or 0, item.peak_memory)
        if item.bytes is not None:
            group.bytes = (group.bytes or 0) + item.bytes
        if item.wait is not None:
            waits.append(item.wait)
    waits.sort()
    group.wait_median = quantile(waits, 0.5)
    group.wait_p90 = quantile(waits, 0.9)
    return group


def _add(total: float | None, value: float | None) -> float | None:
    if value is None:
        return total
    return value if total is None else total + value


def group_items(items: Sequence[Item], by: str) -> list[Group]:
    """One :class:`Group` per distinct key, sorted by key."""
    buckets: dict[str, list[Item]] = {}
    for item in items:
        buckets.setdefault(group_key(item, by), []).append(item)
    return [summarize(name, buckets[name]) for name in sorted(buckets)]


# -- the whole computation ------------------------------------------------------


def compute(
    cfg: InstanceConfig,
    *,
    since: float | None = None,
    until: float | None = None,
    by: str = "user",
    fetcher: Fetch | None = None,
    entries: Mapping[str, object] | None = None,
) -> Usage:
    """The usage of instance ``cfg`` in ``[since, until)``, grouped ``by``.

    ``fetcher`` replaces the sacct call (tests); ``entries`` the ledger read
    from disk. Accounting is asked only when the instance runs on Slurm.
    """
    if by not in GROUPINGS:
        raise ValueError(f"cannot group by {by!r}: use one of {', '.join(GROUPINGS)}")
    if entries is None:
        entries = Ledger(StateStore(cfg.base_dir).root).load().entries
    items = items_in(entries, since, until)
    missing: dict[str, str] = {}
    if fetcher is None and cfg.executor != "slurm":
        why: str | None = (
            f"the instance uses the {cfg.executor} executor, which keeps no accounting"
        )
    else:
        why = add_accounting(items, fetcher or _sacct_fetch(cfg.slurm_timeout_seconds))
    if why is not None:
        missing = {column: why for column in ACCOUNTING_COLUMNS}
    return Usage(
        instance=cfg.name,
        since=since,
        until=until,
        by=by,
        groups=group_items(items, by),
        total=summarize("total", items),
        items=items,
        accounting=why is None,
        missing=missing,
    )


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")

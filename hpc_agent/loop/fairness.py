"""Fair admission under limits: which ready uploads to admit now, and why the others wait.

The rule is pure (no file system, no clock): :func:`plan` takes the ready
uploads (each with its user and the time it became ready), what every user
holds in ``CodeToRun/slurm/`` now (:func:`usage_of`, from the job records and
the job states this tick's one scheduler query gave) and the instance's
limits (:class:`Limits`, from ``flowcron.toml``; 0 is no limit), and returns
the uploads to admit, in order, and the others with the limit that holds each
back and why, in words.

**Order.** Round-robin across users, oldest first within a user: in each
round every user with a waiting upload gets one admission (their oldest
waiting upload: the earliest ready time, then the name), so one user's burst
of hundreds of uploads never starves another's single one. Within a round the
users who hold fewer UoWs go first (then the one whose upload waited longest,
then the name), so when the instance-wide limit leaves room for only a few,
those who have least get them.

**Limits.** A user's upload waits while the user has ``max_running_per_user``
jobs running, or ``max_active_per_user`` UoWs queued or running, or would hold
more than ``max_uow_bytes_per_user`` bytes in ``CodeToRun/`` with it (one
bigger than that on its own is admitted when the user holds nothing there,
so it never waits for ever); any upload waits while the instance has
``max_active`` UoWs queued or running. When a user's oldest upload waits,
their later ones wait too (never reordered within a user). Uploads admitted
in the plan count at once (they are queued, and their state is not known).

**What counts.** A UoW is *active* (queued or running) from admission until
its job's outcome is decided: its record's phase is ``admitted``,
``submitting`` or ``submitted`` and it has no outcome. An active UoW is
*running* unless this tick's scheduler query said its job is waiting in the
queue (:data:`QUEUED_STATES`: ``PENDING`` and the requeue and hold states):
a job whose state is not known this tick (admitted, not yet submitted, or not
in the answer) is counted as running, so a limit is never exceeded by jobs
the agent has not seen start. A busy cluster that keeps jobs ``PENDING`` lets
``max_running_per_user`` admit more (up to that many per tick);
``max_active_per_user`` bounds the queue as well. Bytes are the UoW's size at
admission (:attr:`JobRecord.uow_bytes`, measured only while
``max_uow_bytes_per_user`` is set; a UoW admitted before counts 0), for every
UoW in ``CodeToRun/slurm/`` until it is handed back. The user of a UoW
without a starter marker is ``unknown``, one user like any other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from hpc_agent.config import InstanceConfig, human_bytes
from hpc_agent.loop.state import ADMITTED, SUBMITTED, SUBMITTING, JobRecord

QUEUED_STATES: Final = frozenset(
    {"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
)
"""Scheduler states of a job that waits in the queue: such a job is active, not running."""

ACTIVE_PHASES: Final = frozenset({ADMITTED, SUBMITTING, SUBMITTED})
"""Record phases of a queued or running UoW (with no outcome decided yet)."""


@dataclass(frozen=True)
class Limits:
    """The instance's admission limits; 0 means no limit."""

    max_running_per_user: int = 0
    max_active_per_user: int = 0
    max_active: int = 0
    max_uow_bytes_per_user: int = 0

    @classmethod
    def of(cls, cfg: InstanceConfig) -> Limits:
        """The limits ``cfg`` sets."""
        return cls(
            max_running_per_user=cfg.max_running_per_user,
            max_active_per_user=cfg.max_active_per_user,
            max_active=cfg.max_active,
            max_uow_bytes_per_user=cfg.max_uow_bytes_per_user,
        )

    @property
    def any(self) -> bool:
        """Whether any limit is set."""
        return bool(
            self.max_running_per_user
            or self.max_active_per_user
            or self.max_active
            or self.max_uow_bytes_per_user
        )


@dataclass(frozen=True)
class Upload:
    """A ready upload in ``UploadedFiles/``: its name, who started it, when it became ready."""

    uow: str
    user: str
    ready_at: float


@dataclass
class Usage:
    """What one user holds in ``CodeToRun/slurm/``."""

    running: int = 0
    active: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Hold:
    """An upload held back: the limit (a setting's name) and why, in words."""

    uow: str
    user: str
    limit: str
    reason: str


@dataclass(frozen=True)
class Plan:
    """What to admit now, in order, and what waits (each with why)."""

    admit: tuple[Upload, ...] = ()
    held: tuple[Hold, ...] = ()
    sizes: Mapping[str, int] = field(default_factory=dict)
    """The size of each upload that was measured (only with ``max_uow_bytes_per_user``)."""


def is_running(record: JobRecord, states: Mapping[str, str]) -> bool:
    """Whether an active record counts as running (its job not known to wait in the queue)."""
    return not (record.phase == SUBMITTED and states.get(record.uow) in QUEUED_STATES)


def usage_of(records: Iterable[JobRecord], states: Mapping[str, str]) -> dict[str, Usage]:
    """Per user, what the UoWs in ``CodeToRun/slurm/`` hold (see the module docstring).

    ``states`` maps a UoW to its job's state in this tick's scheduler query.
    """
    usage: dict[str, Usage] = {}
    for record in records:
        held = usage.setdefault(record.user, Usage())
        held.bytes += record.uow_bytes or 0
        if record.outcome is None and record.phase in ACTIVE_PHASES:
            held.active += 1
            held.running += is_running(record, states)
    return {user: held for user, held in usage.items() if held.active or held.bytes}


def plan(
    uploads: Iterable[Upload],
    usage: Mapping[str, Usage],
    limits: Limits,
    *,
    size_of: Callable[[str], int] | None = None,
) -> Plan:
    """Which of ``uploads`` to admit now, in order, and why the others wait.

    ``usage`` is what each user holds now (:func:`usage_of`); ``size_of``
    gives an upload's size in bytes and is called only while
    ``max_uow_bytes_per_user`` is set, for the upload whose turn it is.
    Every upload is either admitted or held, exactly once; a user's uploads
    are admitted oldest first.
    """
    queues: dict[str, deque[Upload]] = {}
    for upload in sorted(uploads, key=lambda u: (u.ready_at, u.uow)):
        queues.setdefault(upload.user, deque()).append(upload)
    used = {user: Usage(h.running, h.active, h.bytes) for user, h in usage.items()}
    total = sum(h.active for h in usage.values())
    sizes: dict[str, int] = {}
    admit: list[Upload] = []
    held: list[Hold] = []

    def hold_all(user: str, limit: str, reason: str) -> None:
        held.extend(Hold(u.uow, user, limit, reason) for u in queues.pop(user))

    while queues:
        for user in sorted(queues, key=lambda u: _turn(u, used, queues[u][0])):
            mine = used.setdefault(user, Usage())
            head = queues[user][0]
            size = 0
            if limits.max_uow_bytes_per_user and size_of is not None:
                size = sizes[head.uow] if head.uow in sizes else size_of(head.uow)
                sizes[head.uow] = size
            why = _user_limit(user, mine, size, limits)
            if why is None and limits.max_active and total >= limits.max_active:
                why = (
                    "max_active",
                    f"the instance has {total} of {limits.max_active} Units of Work queued "
                    "or running (max_active)",
                )
            if why is not None:
                hold_all(user, *why)
                continue
            admit.append(queues[user].popleft())
            if not queues[user]:
                del queues[user]
            mine.active += 1
            mine.running += 1
            mine.bytes += size
            total += 1
    return Plan(tuple(admit), tuple(held), sizes)


def _turn(user: str, used: Mapping[str, Usage], head: Upload) -> tuple[int, float, str, str]:
    """The order of users within a round: who holds fewest, whose upload waited longest."""
    mine = used.get(user)
    return (mine.active if mine else 0, head.ready_at, head.uow, user)


def _user_limit(user: str, mine: Usage, size: int, limits: Limits) -> tuple[str, str] | None:
    """The per-user limit that holds ``user``'s next upload back, with why; None if none."""
    if limits.max_running_per_user and mine.running >= limits.max_running_per_user:
        return (
            "max_running_per_user",
            f"{user} has {mine.running} of {limits.max_running_per_user} running "
            "(max_running_per_user)",
        )
    if limits.max_active_per_user and mine.active >= limits.max_active_per_user:
        return (
            "max_active_per_user",
            f"{user} has {mine.active} of {limits.max_active_per_user} queued or running "
            "(max_active_per_user)",
        )
    cap = limits.max_uow_bytes_per_user
    if cap and mine.bytes and mine.bytes + size > cap:
        return (
            "max_uow_bytes_per_user",
            f"{user} holds {human_bytes(mine.bytes)} of {human_bytes(cap)} in CodeToRun "
            f"and this one needs {human_bytes(size)} (max_uow_bytes_per_user)",
        )
    return None


__all__ = [
    "ACTIVE_PHASES",
    "QUEUED_STATES",
    "Hold",
    "Limits",
    "Plan",
    "Upload",
    "Usage",
    "is_running",
    "plan",
    "usage_of",
]

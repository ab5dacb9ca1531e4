"""What the steps of one tick share: the instance, the scheduler, the lock, the result.

:class:`TickContext` holds one tick's working state (the job records being
advanced, the folders found to belong to a running UoW, the counts of what was
done) and :meth:`TickContext.guarded`, which keeps one Unit of Work's trouble
its own. The steps (:mod:`hpc_agent.loop.load`, :mod:`~hpc_agent.loop.outcome`,
:mod:`~hpc_agent.loop.admit_phase`, :mod:`~hpc_agent.loop.submit`,
:mod:`~hpc_agent.loop.handback`) are functions of it; :mod:`hpc_agent.loop.tick`
runs them in order.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from hpc_agent import protocol
from hpc_agent.executors.base import Executor, ExecutorError
from hpc_agent.exitcodes import EXIT_OK
from hpc_agent.functions.spec import Library, load_library
from hpc_agent.loop.lock import InstanceLock, LeaseLost
from hpc_agent.loop.state import JobRecord
from hpc_agent.text import printable
from hpc_agent.uow.finalize import Agent
from hpc_agent.uow.retention import RetentionResult

STOPS_THE_TICK: Final = (ExecutorError, LeaseLost)
"""Errors no Unit of Work causes alone: they end the tick (see :meth:`Reconciler.run`)."""


@dataclass
class TickResult:
    """What one tick did; ``exit_code`` is the process exit code for ``hpc-agent tick``."""

    ran: bool = True
    exit_code: int = EXIT_OK
    message: str = ""
    admitted: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    submitted: dict[str, str] = field(default_factory=dict)
    finished: dict[str, str] = field(default_factory=dict)
    retention: RetentionResult = field(default_factory=RetentionResult)
    scheduler_queries: int = 0
    seconds: float = 0.0
    errors: int = 0
    """Units of Work whose step failed this tick (each logged); the others went on."""


class TickContext:
    """One tick's working state, shared by its steps."""

    def __init__(self, agent: Agent, executor: Executor, lock: InstanceLock) -> None:
        self.agent = agent
        self.cfg = agent.cfg
        self.store = agent.store
        self.log = agent.log
        self.now = agent.now
        self.executor = executor
        self.lock = lock
        self.running_dir = self.cfg.path(protocol.RUNNING)
        self.result = TickResult()
        self.records: dict[str, JobRecord] = {}
        self.claimed: set[Path] = set()
        """Folders found to belong to a running UoW (by their marker): never new uploads."""
        self._library: Library | None = None
        self.broken_logged: set[str] = set()
        """Broken functions already logged this tick (``function-broken``, once each)."""
        self.job_states: dict[str, str] = {}
        """UoW -> its job's state in this tick's one scheduler query (while queued or running)."""
        self.mutex = threading.RLock()
        """Guards what the submission threads share (:class:`hpc_agent.loop.submit.Submitter`):
        the counts, the lease, the library and the once-per-tick sets."""
        self.limit_facts: dict[str, tuple[int | None, float | None]] = {}
        """Upload -> (its size, how long a limit held it back) when the limits are on
        (:func:`hpc_agent.loop.admit_phase.hold_back`); kept in its job record."""

    def renew(self) -> None:
        """Renew the lease (:meth:`InstanceLock.renew`), one thread at a time."""
        with self.mutex:
            self.lock.renew()

    @property
    def library(self) -> Library:
        """The instance's published functions, read once per tick (when first needed)."""
        with self.mutex:
            if self._library is None:
                self._library = load_library(self.cfg.path(protocol.FUNCTIONS))
            return self._library

    def guarded(
        self,
        uow: str,
        step: str,
        action: Callable[[], None],
        *,
        refuse: Callable[[Exception], None] | None = None,
    ) -> None:
        """Run one UoW's step; an unexpected error is logged and the tick goes on.

        Scheduler trouble still stops the whole tick (every UoW would meet it).
        Anything else, whatever the name, bytes or permissions involved, is
        this UoW's alone: it is logged with the UoW's name, counted in the
        tick's exit code, and the step is tried again next tick. With
        ``refuse``, an upload whose admission failed is refused with a report
        at once instead (``refuse`` is called with the error; see
        :func:`hpc_agent.loop.admit_phase.refuse_unadmittable`).
        """
        try:
            action()
        except STOPS_THE_TICK:
            raise
        except Exception as exc:
            with self.mutex:
                self.result.errors += 1
            self.log.write(
                "uow-error",
                f"{step} of {printable(uow)} failed ({type(exc).__name__}: {exc}); the other "
                "Units of Work went on"
                + ("" if refuse is not None else ", and the next tick tries this one again"),
                level="error",
                uow=uow,
                step=step,
                error=f"{type(exc).__name__}: {exc}",
                traceback=traceback.format_exc(limit=8),
            )
            if refuse is not None:
                refuse(exc)


def dir_names(directory: Path) -> Iterable[str]:
    """Names of the sub-directories of ``directory`` (one scandir; no symlinks)."""
    try:
        with os.scandir(directory) as entries:
            return [e.name for e in entries if e.is_dir(follow_symlinks=False)]
    except FileNotFoundError:
        return []

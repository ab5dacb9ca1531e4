"""Tick step 5, hand-back: finalize every UoW whose outcome is decided.

The finalize steps themselves (report, tidy, the one rename) are
:func:`hpc_agent.uow.finalize.finalize`; this runs them for each record in
phase FINALIZING, each under :meth:`~hpc_agent.loop.context.TickContext.guarded`.
"""

from __future__ import annotations

from functools import partial

from hpc_agent.loop.context import TickContext
from hpc_agent.loop.state import FAILED, FINALIZING, SUCCEEDED, JobRecord
from hpc_agent.uow.finalize import finalize


def finalize_all(ctx: TickContext) -> None:
    """Finalize every UoW whose outcome is decided."""
    for name, record in sorted(ctx.records.items()):
        if record.phase == FINALIZING:
            ctx.lock.renew()
            if record.moved and record.outcome == SUCCEEDED and record.destination is None:
                # Its folder was moved while it ran: the results cannot be trusted.
                record.outcome = FAILED
                record.reason = f"the job ended, but {record.moved}"
                ctx.store.save(record)
            ctx.guarded(name, "finalize", partial(finish, ctx, record))
            del ctx.records[name]


def finish(ctx: TickContext, record: JobRecord) -> None:
    """Finalize one UoW; count it as finished once it is handed back."""
    destination = finalize(ctx.agent, record)
    if destination is not None:
        ctx.result.finished[record.uow] = destination

"""Tick step 1, load: match the job records with the UoWs in ``CodeToRun/slurm/``.

Before any scheduler answer is used, the tick makes records and folders agree:
temporary files of writes a crash cut short are removed, a damaged record or
ledger is logged (and moved aside), a running UoW whose folder someone moved is
found by its marker and put back, a record whose folder is gone is finalized
(or, never submitted, forgotten so its upload is admitted again), and a folder
without a record gets one rebuilt in phase SUBMITTING, so it is looked up by
name before any sbatch.
"""

from __future__ import annotations

import contextlib
import os
import stat
from functools import partial
from pathlib import Path

from hpc_agent import protocol
from hpc_agent.fs.atomicio import TEMP_SUFFIX
from hpc_agent.loop.context import TickContext, dir_names
from hpc_agent.loop.handback import finish
from hpc_agent.loop.state import FINALIZING, SUBMITTING, JobRecord
from hpc_agent.text import printable
from hpc_agent.uow.marker import read_token
from hpc_agent.uow.record import job_name


def load(ctx: TickContext) -> None:
    """Match records with the UoWs in ``CodeToRun/slurm`` and repair mismatches."""
    remove_stray_temporaries(ctx)
    if ctx.agent.ledger.damaged is not None:
        ctx.result.errors += 1
        ctx.log.write(
            "ledger-corrupt",
            f"the ledger could not be read and was moved to {ctx.agent.ledger.damaged}; "
            "retention counts finished Units of Work from now",
            level="error",
        )
    records = ctx.store.all_records(on_corrupt=partial(record_corrupt, ctx))
    present = set(dir_names(ctx.running_dir))
    moved = [
        record
        for name, record in sorted(records.items())
        if name not in present
        and record.token
        and record.job_id is not None
        and not (record.phase == FINALIZING and record.destination is not None)
    ]
    found: set[str] = set()
    if moved:
        found = put_back_moved(ctx, moved, present - set(records))
        present = set(dir_names(ctx.running_dir))
    for name, record in sorted(records.items()):
        if name in present:
            continue
        if name in found:
            # Its folder was found elsewhere but could not be put back (logged):
            # keep the record, so the folder is never taken for a new upload.
            continue
        if record.phase == FINALIZING and record.destination is not None:
            # A crash after the final rename: only the bookkeeping is left.
            ctx.guarded(name, "finalize", partial(finish, ctx, record))
        elif record.job_id is None:
            # A crash between writing the record and the admission rename:
            # the upload is still where it was and is admitted again.
            ctx.store.delete(name)
        else:  # logs that the UoW went missing
            ctx.guarded(name, "finalize", partial(finish, ctx, record))
        del records[name]
    for name in sorted(present - set(records)):
        if ctx.running_dir / name in ctx.claimed:
            continue  # another UoW's folder that could not be put back (logged)
        # A UoW here without a record (record lost, or put here by hand).
        # Treat it as possibly submitted: look it up by name before sbatch.
        record = JobRecord(
            uow=name,
            phase=SUBMITTING,
            source=name,
            admitted_at=ctx.now,
            job_name=job_name(ctx.cfg.name, name),
        )
        ctx.store.save(record)
        ctx.log.write(
            "record-rebuilt",
            f"{name} was in {protocol.RUNNING}/ without a job record; rebuilt it",
            level="warning",
            uow=name,
        )
        records[name] = record
    ctx.records = records


def put_back_moved(ctx: TickContext, missing: list[JobRecord], unrecorded: set[str]) -> set[str]:
    """Find submitted UoWs whose folder someone moved, by their marker, and put them back.

    A folder renamed inside ``CodeToRun/slurm/`` (``unrecorded`` names) or
    moved back into ``UploadedFiles/`` would otherwise be forgotten and
    taken for a new upload: a second job for the same UoW. Its marker
    (:mod:`hpc_agent.uow.marker`) says which record it belongs to.
    Returns the UoWs whose folder was found, put back or not.
    """
    wanted = {record.token: record for record in missing if record.token}
    uploaded = ctx.cfg.path(protocol.UPLOADED)
    candidates = [(ctx.running_dir / name, protocol.RUNNING) for name in sorted(unrecorded)]
    candidates += [(uploaded / name, protocol.UPLOADED) for name in sorted(dir_names(uploaded))]
    found: set[str] = set()
    for path, where in candidates:
        if not wanted:
            break
        token = read_token(path, ctx.cfg.name)
        record = wanted.pop(token, None) if token is not None else None
        if record is not None:
            found.add(record.uow)
            ctx.claimed.add(path)
            ctx.guarded(record.uow, "put back", partial(put_back, ctx, record, path, where))
    return found


def put_back(ctx: TickContext, record: JobRecord, path: Path, where: str) -> None:
    """Rename a moved UoW folder back to where its record says it is."""
    path.rename(ctx.running_dir / record.uow)
    if where == protocol.RUNNING:
        what = f"renamed to '{printable(path.name)}' inside {protocol.RUNNING}/"
    else:
        what = f"moved back to {protocol.UPLOADED}/ as '{printable(path.name)}'"
    record.moved = f"this folder was {what} while its job ran"
    record.notes.append(
        f"While its job ran, this folder was {what}. FlowCron put it back and did not "
        "run it a second time; the job is reported as failed because files it wrote "
        "through the folder's path may be missing. Start the flow again to run it anew."
    )
    ctx.store.save(record)
    ctx.log.write(
        "uow-put-back",
        f"{printable(record.uow)} was {what} while job {record.job_id} ran; put it back "
        f"(it is not submitted again)",
        level="warning",
        uow=record.uow,
        job_id=record.job_id,
        found=str(path),
    )


def record_corrupt(ctx: TickContext, aside: Path) -> None:
    """Log a job record that could not be read (moved aside; rebuilt from disk below)."""
    ctx.result.errors += 1
    ctx.log.write(
        "record-corrupt",
        f"a job record could not be read and was moved to {aside}; the agent rebuilds "
        "it from the UoW folder and the scheduler (a job already submitted is found "
        "by its name, never submitted again)",
        level="error",
        path=str(aside),
    )


def remove_stray_temporaries(ctx: TickContext) -> None:
    """Delete temporary files of state writes cut short by a crash.

    Only the lock holder writes under ``.state/``, and we hold the lock, so
    any temporary file there belongs to a writer that is gone.
    """
    for directory in (ctx.store.jobs_dir, ctx.store.scripts_dir, ctx.store.root):
        try:
            with os.scandir(directory) as entries:
                stray = [e.path for e in entries if _is_stray(e, ctx.now)]
        except FileNotFoundError:
            continue
        for path in stray:
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()


JOB_PART_SUFFIX = ".part"
"""A job wrapper's temporary files (:mod:`hpc_agent.loop.job_wrapper`), written without the lock."""

JOB_PART_MAX_AGE = 3600.0
"""Seconds after which a job wrapper's temporary file is a killed job's (it writes in milliseconds)."""


def _is_stray(entry: os.DirEntry[str], now: float) -> bool:
    """A temporary file a crash left: the tick's own (:mod:`hpc_agent.fs.atomicio`) at once,
    a job wrapper's once old."""
    if not entry.name.startswith("."):
        return False
    try:
        if entry.name.endswith(TEMP_SUFFIX):
            return entry.is_file(follow_symlinks=False)
        if entry.name.endswith(JOB_PART_SUFFIX):
            info = entry.stat(follow_symlinks=False)
            return stat.S_ISREG(info.st_mode) and now - info.st_mtime > JOB_PART_MAX_AGE
    except FileNotFoundError:
        return False
    return False

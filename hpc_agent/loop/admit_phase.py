"""Tick step 3, admit: each ready upload is checked, recorded, then moved into place.

For each folder in ``UploadedFiles/`` that is complete (or has timed out),
:func:`hpc_agent.uow.admission.admit` decides; the job record (and, for a UoW
not submitted right away, the prepared copy of the job script) is written,
then the folder is moved with one atomic rename into ``CodeToRun/slurm/`` (a rejected one too, its outcome
already decided, to be finalized into ``FailedJobs/``). The record names
who started the run (``user``, from the flow's ``flowcron-starter/`` marker,
:mod:`hpc_agent.uow.starter`); the marker is removed once the record is
saved and the folder moved (a crash before that leaves it to be read again;
finalize removes any left). An upload whose
admission raised is refused at once with a report. :func:`readmit` prepares
the script again for a UoW that has no prepared copy (used by
:mod:`hpc_agent.loop.submit`).

The instance's published functions are read once per tick
(:attr:`~hpc_agent.loop.context.TickContext.library`) and passed to every
admission. For a UoW that calls one, the rendered job script is also written
into the UoW (:data:`protocol.RENDERED_SCRIPT`, atomically) before the
rename, so the researcher gets back exactly what ran; a call of a broken
function is refused, and logged once per tick per function
(``function-broken``) for the PI, while every other UoW goes on.

With admission limits set (``max_running_per_user``, ``max_active_per_user``,
``max_active``, ``max_uow_bytes_per_user``), :func:`hold_back` orders the ready
uploads round-robin across users and holds back those over a limit
(:mod:`hpc_agent.loop.fairness`): they stay in ``UploadedFiles/`` untouched.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hpc_agent import protocol
from hpc_agent.faults import crash_point
from hpc_agent.fs.atomicio import write_text_atomic
from hpc_agent.loop.context import STOPS_THE_TICK, TickContext, dir_names
from hpc_agent.loop.fairness import Limits, Upload, plan, usage_of
from hpc_agent.loop.holds import Held, HeldList, ready_at, tree_bytes
from hpc_agent.loop.state import FAILED, JobRecord
from hpc_agent.text import printable
from hpc_agent.uow.admission import Admission, admit, handed_over_starter, upload_state
from hpc_agent.uow.finalize import clear_stuck, note_stuck
from hpc_agent.uow.marker import new_token, write_marker
from hpc_agent.uow.record import decide, intend_to_submit, job_name
from hpc_agent.uow.rerun import archive_earlier_outputs, find_earlier_outputs
from hpc_agent.uow.starter import read_starter, remove_marker

if TYPE_CHECKING:  # submit imports this module (readmit)
    from hpc_agent.loop.submit import Submitter


@dataclass(frozen=True)
class Admitted:
    """A UoW admitted to be submitted at once: its record and its prepared job script.

    The script is not on disk: the submission either hands it to Slurm inside
    the job wrapper or writes the prepared copy first (:func:`hpc_agent.loop.submit.submit_one`).
    """

    record: JobRecord
    script: str


def timestamped(name: str, now: float) -> str:
    """``name`` with a UTC timestamp, for the ``timestamp`` option.

    A name that already ends in a run id is never changed: the flow finds the
    UoW again by that name.
    """
    if protocol.run_id_of(name) is not None:
        return name
    return f"{name}_{datetime.fromtimestamp(now, tz=timezone.utc):%Y%m%d-%H%M%S}"


def admit_uploads(ctx: TickContext, submitter: Submitter | None = None) -> None:
    """Admit every ready upload the limits allow and move it into ``CodeToRun/slurm/``.

    Uploads that are to be refused (timed out, ``sentinels`` not a folder)
    go first and never wait for a limit; the ready ones go in the order
    :func:`hold_back` gives, and the ones it holds back stay where they are.
    With ``submitter`` (:func:`hpc_agent.loop.submit.submitting`), each
    admitted UoW is offered for submission at once; once scheduler trouble
    has stopped the submissions, nothing more is admitted.
    """
    ready, refusals = sort_uploads(ctx)
    order, memory = hold_back(ctx, ready)
    if submitter is not None and submitter.parallel:
        admit_in_pool(ctx, submitter, [*refusals, *order])
    else:
        for path in [*refusals, *order]:
            if submitter is not None and submitter.stopped:
                break  # the tick stops: the others wait where they are
            ctx.renew()  # admitting many large uploads can take long
            admitted = admit_guarded(ctx, path, submit_next=submitter is not None)
            if submitter is not None and admitted is not None:
                submitter.offer(admitted.record, admitted)
    if memory is not None:
        # One the plan admitted that is still here (a name in use, a failed
        # move) keeps its memory: it is still waiting, since the same time.
        for path in order:
            if path.name in memory.entries and not os.path.lexists(path):
                del memory.entries[path.name]
        # Best effort: without it a held upload is only logged once more.
        with contextlib.suppress(OSError):
            memory.save()


def sort_uploads(ctx: TickContext) -> tuple[list[Path], list[Path]]:
    """The uploads ready to admit, and those to refuse (timed out, or not a Unit of Work)."""
    uploaded = ctx.cfg.path(protocol.UPLOADED)
    timeout = ctx.cfg.upload_timeout_days * 86400
    ready: list[Path] = []
    refusals: list[Path] = []
    for name in sorted(dir_names(uploaded)):
        path = uploaded / name
        if path in ctx.claimed:
            continue  # a running UoW moved here, not put back yet: never run it twice
        state = upload_state(path)
        if state == "ready":
            ready.append(path)
            continue
        if state == "uploading":
            # Cheap test first: admission walks the whole tree, which is
            # only worth it once the upload may have timed out.
            try:
                age = ctx.now - os.lstat(path).st_mtime
            except FileNotFoundError:
                continue
            if not timeout or age <= timeout:
                continue
        refusals.append(path)
    return ready, refusals


def admit_guarded(ctx: TickContext, path: Path, *, submit_next: bool = False) -> Admitted | None:
    """:func:`admit_one` under :meth:`TickContext.guarded`: what to submit, if admitted
    (always None without ``submit_next``: the UoW is submitted from its prepared copy)."""
    admitted: list[Admitted] = []

    def action() -> None:
        done = admit_one(ctx, path, submit_next=submit_next)
        if done is not None:
            admitted.append(done)

    ctx.guarded(path.name, "admission", action, refuse=partial(refuse_unadmittable, ctx, path))
    return admitted[0] if admitted else None


def admit_in_pool(ctx: TickContext, submitter: Submitter, paths: list[Path]) -> None:
    """Admit ``paths`` in the submission threads, each submitted by its thread right after.

    Admission writes three fsynced files per UoW (marker, prepared copy,
    record); on the tick's one thread those waits, not sbatch, set the pace
    of a large tick. Each UoW is still admitted and submitted by one thread,
    step by step as in the serial order, so every crash point means what it
    means there. Two uploads that would take the same name in
    ``CodeToRun/slurm/`` are never admitted side by side: the later waits for
    the next tick (which logs ``name-in-use`` if the name is still taken).
    """
    finals: set[str] = set()
    dispatched: list[str] = []
    for path in paths:
        final = timestamped(path.name, ctx.now) if ctx.cfg.timestamp else path.name
        if final in finals:
            continue
        finals.add(final)
        dispatched.append(final)
        submitter.offer_admission(partial(admit_guarded, ctx, path, submit_next=True))
    submitter.wait()
    # Threads finish in any order; the tick's result lists UoWs in admission order.
    rank = {name: number for number, name in enumerate(dispatched)}
    ctx.result.admitted.sort(key=lambda name: rank.get(name, len(rank)))
    ctx.result.rejected.sort(key=lambda name: rank.get(name, len(rank)))


def hold_back(ctx: TickContext, ready: list[Path]) -> tuple[list[Path], HeldList | None]:
    """The ready uploads to admit now, in order, under the instance's limits.

    The rule is :func:`hpc_agent.loop.fairness.plan` (round-robin across
    users, oldest first within a user); an upload it holds back is logged
    as ``held-by-limit`` once per upload and limit (remembered in
    :class:`~hpc_agent.loop.holds.HeldList`, which ``status`` reads) and
    nothing else happens to it. Without limits every ready upload is
    admitted, in name order, and no memory is kept.
    """
    limits = Limits.of(ctx.cfg)
    if not limits.any:
        memory = HeldList(ctx.store.root).load()
        if memory.entries:  # the limits were just lifted
            memory.entries.clear()
            with contextlib.suppress(OSError):
                memory.save()
        return ready, None
    memory = HeldList(ctx.store.root).load()
    by_name = {path.name: path for path in ready}
    uploads = [Upload(p.name, read_starter(p).user, ready_at(p)) for p in ready]

    def size_of(name: str) -> int:
        known = memory.entries.get(name)
        if known is not None and known.bytes is not None:
            return known.bytes  # a complete upload does not change while it waits
        return tree_bytes(by_name[name])

    usage = usage_of(ctx.records.values(), ctx.job_states)
    decided = plan(uploads, usage, limits, size_of=size_of)
    earlier = memory.entries
    memory.entries = {}
    for hold in decided.held:
        before = earlier.get(hold.uow)
        memory.entries[hold.uow] = Held(
            limit=hold.limit,
            reason=hold.reason,
            user=hold.user,
            since=before.since if before is not None else ctx.now,
            bytes=decided.sizes.get(hold.uow, before.bytes if before is not None else None),
        )
        if before is None or before.limit != hold.limit:
            ctx.log.write(
                "held-by-limit",
                f"{printable(hold.uow)} waits in {protocol.UPLOADED}/: {hold.reason}; it is admitted as "
                "soon as the limit allows",
                uow=hold.uow,
                user=hold.user,
                limit=hold.limit,
                reason=hold.reason,
            )
    for upload in decided.admit:
        before = earlier.get(upload.uow)
        if before is not None:
            memory.entries[upload.uow] = before  # dropped once it has left UploadedFiles/
        ctx.limit_facts[upload.uow] = (
            decided.sizes.get(upload.uow),
            None if before is None else round(max(0.0, ctx.now - before.since), 1),
        )
    return [by_name[upload.uow] for upload in decided.admit], memory


def admit_one(
    ctx: TickContext, path: Path, *, verdict: Admission | None = None, submit_next: bool = False
) -> Admitted | None:
    """Admit (or reject) one upload, record it, then rename it into place.

    Returns what to submit (with ``submit_next``, an admitted UoW), None otherwise.
    ``verdict`` skips admission (a refusal decided by the caller). Safe in
    the submission threads: shared state is touched under ``ctx.mutex``.
    ``submit_next``: the caller submits it right after, so the intent to
    submit goes into the admission record (one durable write less per UoW),
    and the prepared script is returned with it (:class:`Admitted`) instead
    of written to disk (one more). A crash before the rename then leaves a
    record without a job, deleted and the upload admitted again as ever; one
    after it leaves an intent without a prepared copy: the next tick looks
    the job up by name before sbatch, as after any crash between intent and
    job id, and prepares the script again from the folder (:func:`readmit`).
    """
    if verdict is None:
        verdict = admit(path, ctx.cfg, now=ctx.now, library=ctx.library)
    if verdict.pending:
        return None
    if verdict.broken_function is not None:
        log_broken_function(ctx, verdict.broken_function, path.name)
    final = timestamped(path.name, ctx.now) if ctx.cfg.timestamp else path.name
    for name in (path.name, final):  # every event about it names who started it
        ctx.log.attribute(name, verdict.user)
    target = ctx.running_dir / final
    if os.path.lexists(target) or final in ctx.records:
        ctx.log.write(
            "name-in-use",
            f"{path.name} waits in {protocol.UPLOADED}/: a UoW named {final} is still "
            f"in {protocol.RUNNING}/; it is admitted once that one is finished",
            level="warning",
            uow=path.name,
        )
        return None
    token = new_token()
    record = JobRecord(
        uow=final,
        source=path.name,
        admitted_at=ctx.now,
        problems=list(verdict.problems),
        notes=list(verdict.notes),
        script_sha256=verdict.script_sha256,
        job_name=job_name(ctx.cfg.name, final),
        function=verdict.function,
        user=verdict.user,
    )
    record.uow_bytes, record.waited_for_limit_seconds = ctx.limit_facts.get(path.name, (None, None))
    # Best effort: a UoW the agent cannot write into is still admitted (or
    # refused) as before, only without the move detection the marker gives.
    with contextlib.suppress(OSError):
        write_marker(path, instance=ctx.cfg.name, uow=final, token=token)
        record.token = token
    try:
        if verdict.earlier is not None:
            # Before the record: a crash after this move is repaired by
            # admitting again, which then finds nothing left to archive.
            archive = archive_earlier_outputs(path, verdict.earlier)
            record.notes.insert(0, verdict.earlier.note(archive))
            crash_point("after-archive-earlier")
        prepare(ctx, path, record, verdict, submit_next=submit_next)
        ctx.store.save(record)
        log_admission(ctx, path, final, verdict)
        crash_point("after-admit-record")
        path.rename(target)
    except OSError as exc:
        ctx.store.delete(final)
        with ctx.mutex:  # the stuck list is one file for every thread
            note_stuck(
                ctx.agent,
                f"{protocol.UPLOADED}/{path.name}",
                path.name,
                str(exc.filename or path),
                f"moving it into {protocol.RUNNING}/: {exc.strerror or exc}",
                "admitted",
            )
        ctx.log.write(
            "admit-move-failed",
            f"could not move {path.name} into {protocol.RUNNING}/: {exc}; so it was not "
            f"admitted after all: it stays in {protocol.UPLOADED}/ and the next tick "
            "tries again",
            level="error",
            uow=path.name,
            error=str(exc),
        )
        return None
    crash_point("after-admit-rename")
    # Only now: before the record is saved and the folder moved, a crash makes
    # the next tick admit it again, and it must find the marker again.
    remove_marker(target)
    with ctx.mutex:
        clear_stuck(ctx.agent, f"{protocol.UPLOADED}/{path.name}")
        ctx.records[final] = record
        (ctx.result.admitted if verdict.ok else ctx.result.rejected).append(final)
    if submit_next and verdict.ok and verdict.script_text is not None:
        return Admitted(record, verdict.script_text)
    return None


def prepare(
    ctx: TickContext, path: Path, record: JobRecord, verdict: Admission, *, submit_next: bool
) -> None:
    """Before the record is saved: the rendered script into the UoW, and the intent to
    submit (``submit_next``) or the prepared copy; a refusal decided."""
    if not verdict.ok or verdict.script_text is None:
        decide(record, outcome=FAILED, reason="the Unit of Work was not accepted")
        return
    if verdict.call is not None:
        write_rendered_script(path, verdict.script_text)
    if submit_next:
        # What an earlier run of this name may have left (a kill while it was
        # forgotten) must not pass for this run's script if it waits for a later tick.
        for stale in ctx.store.job_files(record.uow):
            with contextlib.suppress(FileNotFoundError):
                stale.unlink()
        intend_to_submit(record, ctx.now)
    else:
        write_script(ctx, record.uow, verdict.script_text)


def refuse_unadmittable(ctx: TickContext, path: Path, exc: Exception) -> None:
    """Refuse an upload whose admission raised: a report now, not a 7-day silence."""
    problem = (
        f"FlowCron could not check this Unit of Work ({type(exc).__name__}: {exc}). "
        "This is a problem on the HPC side, not in your files as far as FlowCron can "
        "tell: start the flow again, and if it happens again, send this report to the "
        "instance's administrator."
    )
    earlier = None
    with contextlib.suppress(Exception):  # best effort: this path is for the unexpected
        earlier = find_earlier_outputs(path)
    verdict = Admission(
        ok=False, problems=(problem,), earlier=earlier, user=handed_over_starter(path).user
    )
    try:
        admit_one(ctx, path, verdict=verdict)
    except STOPS_THE_TICK:
        raise
    except Exception as second:
        ctx.log.write(
            "uow-error",
            f"could not refuse {printable(path.name)} either ({type(second).__name__}: "
            f"{second}); it stays in {protocol.UPLOADED}/ and the next tick tries again",
            level="error",
            uow=path.name,
            step="refusal",
            error=f"{type(second).__name__}: {second}",
        )


def log_admission(ctx: TickContext, path: Path, final: str, verdict: Admission) -> None:
    """The ``admitted``/``rejected`` line, written before the rename it announces.

    A kill after the rename would otherwise lose the line for good; a kill
    before it makes the next tick admit again and write it again: the log
    has every step at least once.
    """
    if verdict.ok:
        ctx.log.write(
            "admitted",
            f"{path.name} admitted as {protocol.RUNNING}/{final}"
            + (f" ({len(verdict.notes)} note(s))" if verdict.notes else ""),
            uow=final,
            notes=list(verdict.notes),
            script_sha256=verdict.script_sha256,
            **_function_field(verdict),
        )
    else:
        ctx.log.write(
            "rejected",
            f"{path.name} rejected: " + " ".join(verdict.problems),
            level="warning",
            uow=final,
            problems=list(verdict.problems),
        )


def _function_field(verdict: Admission) -> dict[str, Any]:
    """The ``function`` field of the ``admitted`` line: only for a function call."""
    return {"function": verdict.function} if verdict.call is not None else {}


def log_broken_function(ctx: TickContext, name: str, uow: str) -> None:
    """``function-broken`` with the function's problems, once per tick per function."""
    with ctx.mutex:  # submission threads may re-admit UoWs calling the same function
        if name in ctx.broken_logged:
            return
        ctx.broken_logged.add(name)
    problems = list(ctx.library.broken.get(name, ()))
    ctx.log.write(
        "function-broken",
        f"the published function {name!r} is broken, so Units of Work that call it are "
        f"refused (first: {printable(uow)}); fix {protocol.FUNCTIONS}/{name}/ (`hpc-agent "
        "function check`): " + "; ".join(problems),
        level="error",
        uow=uow,
        function=name,
        problems=problems,
    )


def write_rendered_script(uow_dir: Path, text: str) -> None:
    """Write the job script rendered from a function call into the UoW, for the researcher.

    Temporary file then rename, so a crash leaves the old file or the new
    one; admitting the UoW again renders the same bytes.
    """
    write_text_atomic(uow_dir / protocol.RENDERED_SCRIPT, text, mode=0o755)


def write_script(ctx: TickContext, uow: str, text: str) -> None:
    """Write the prepared copy of the job script (never the user's file).

    Temporary file then rename: a tick killed mid-write leaves no partial
    script for the next tick to submit.
    """
    write_text_atomic(ctx.store.script_path(uow), text, mode=0o700, crash_name="mid-script-write")


def readmit(ctx: TickContext, record: JobRecord, uow_dir: Path) -> str | None:
    """Prepare the script again for a UoW that has no prepared copy; None when refused.

    A UoW submitted as soon as it was admitted never had one (its script went
    to Slurm in the job wrapper); a crash between its admission and its job
    leaves it to be submitted from its folder. The caller writes the copy
    when the job needs it on disk.
    """
    verdict = admit(uow_dir, ctx.cfg, now=ctx.now, library=ctx.library)
    if verdict.broken_function is not None:
        log_broken_function(ctx, verdict.broken_function, record.uow)
    if not verdict.ok or verdict.script_text is None:
        record.problems = list(verdict.problems) or ["the Unit of Work has no job script"]
        decide(record, outcome=FAILED, reason="the Unit of Work was not accepted")
        ctx.store.save(record)
        return None
    if record.lost_jobs and record.script_sha256 not in (None, verdict.script_sha256):
        # The lost job's wrapper, which carried its script, is gone too (a power loss):
        # what the folder holds now is not what that job was given.
        decide(
            record,
            outcome=FAILED,
            reason="Slurm lost its job, and its job script has changed since that job "
            "was submitted (the job may have changed it), so FlowCron did not run a "
            "different script in its place",
        )
        ctx.store.save(record)
        return None
    # The record's notes stay (such as the one on the earlier run archived at
    # admission, which this check cannot see again); what is submitted is this script.
    record.notes = record.notes or list(verdict.notes)
    record.script_sha256 = verdict.script_sha256
    record.function = verdict.function
    if verdict.call is not None:
        write_rendered_script(uow_dir, verdict.script_text)
    return verdict.script_text

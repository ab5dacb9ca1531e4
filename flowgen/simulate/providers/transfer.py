"""The asynchronous Transfer actions: ``transfer`` and ``delete`` on local directories.

Both answer ``/run`` with an ACTIVE task and do their work on the first
poll, so a flow sees the same ACTIVE-then-terminal life as with the real
service. Placement follows the Transfer API: a directory's *contents* go
inside the destination directory, a file goes to exactly
``destination_path``, missing parents are created; symlinks inside a
copied tree are neither followed nor created (a symlink given as the source
itself is followed).
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from flowgen.simulate.collections import CollectionError
from flowgen.simulate.providers.base import (
    ActionContext,
    ActionStatus,
    ActionUnableToRun,
)
from flowgen.simulate.providers.filedocs import endpoint_of, require, resolve
from flowgen.simulate.providers.tasks import (
    Counters,
    Fault,
    Task,
    task_deadline,
    task_label,
)

SYNC_LEVELS = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}


_ERRNO_CODES = {
    errno.ENOENT: "FILE_NOT_FOUND",
    errno.ENOTDIR: "NOT_A_DIRECTORY",
    errno.EISDIR: "IS_A_DIRECTORY",
    errno.EACCES: "PERMISSION_DENIED",
    errno.EPERM: "PERMISSION_DENIED",
    errno.ENOSPC: "QUOTA_EXCEEDED",
    errno.EDQUOT: "QUOTA_EXCEEDED",
}


def fault_from_os_error(exc: OSError) -> Fault:
    """The Transfer fault a local file-system error corresponds to."""
    code = _ERRNO_CODES.get(exc.errno or 0, "UNKNOWN_ERROR")
    return Fault(code, f"{exc.strerror or exc}: {exc.filename or ''}".rstrip(": "))


def _status(task: Task, action_id: str) -> ActionStatus:
    return ActionStatus(task.status, task.document(), action_id=action_id, label=task.label)


class _TaskProvider:
    """An asynchronous provider whose work runs once, on the first poll."""

    kind = ""

    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}

    def run(self, body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
        """Check the request and queue the task (ACTIVE)."""
        self.check(body, ctx)
        now = ctx.now()
        task = Task(
            task_id=ctx.action_id,
            kind=self.kind,
            body=body,
            label=task_label(body, ctx.action_id),
            request_time=now,
            deadline=task_deadline(body, now, ctx.options.transfer_deadline_seconds),
            owner_id=str(ctx.run_context.get("user_id", "")).rsplit(":", 1)[-1],
            username=str(ctx.run_context.get("username", "")),
        )
        self.tasks[ctx.action_id] = task
        ctx.records.setdefault("transfer_tasks", []).append(task)
        return _status(task, ctx.action_id)

    def poll(self, status: ActionStatus, ctx: ActionContext) -> ActionStatus:
        """Do the work (or retry it) and report the task's status."""
        task = self.tasks[status.action_id]
        if task.status == "ACTIVE":
            now = ctx.now()
            task.counters = Counters()
            try:
                try:
                    self.execute(task, ctx)
                except OSError as exc:
                    raise fault_from_os_error(exc) from None
            except Fault as fault:
                retry = ctx.options.missing_transfer_source == "realistic" and fault.code in (
                    "FILE_NOT_FOUND",
                )
                if retry and now < task.deadline:
                    # A real task keeps retrying a missing path until its deadline.
                    task.faults += 1
                    task.nice_status = fault.code
                else:
                    task.finish(now, fault)
            else:
                task.finish(now)
        return _status(task, status.action_id)

    def check(self, body: dict[str, Any], ctx: ActionContext) -> None:
        """Refuse a malformed request with ActionUnableToRun."""
        raise NotImplementedError

    def execute(self, task: Task, ctx: ActionContext) -> None:
        """Do the work; raise Fault on a fatal error."""
        raise NotImplementedError


class TransferProvider(_TaskProvider):
    """``https://transfer.actions.globus.org/transfer``."""

    kind = "TRANSFER"

    def check(self, body: dict[str, Any], ctx: ActionContext) -> None:
        """Check collections, items and paths before the task is queued."""
        source = endpoint_of(body, ctx.collections, "source_endpoint", "source_endpoint_id")
        dest = endpoint_of(body, ctx.collections, "destination_endpoint", "destination_endpoint_id")
        items = require(body, "DATA", list)
        if not items:
            raise ActionUnableToRun("Field 'DATA' must list at least one transfer item")
        for item in items:
            if not isinstance(item, dict):
                raise ActionUnableToRun(f"A DATA item must be an object, got {item!r}")
            resolve(ctx.collections, source, require(item, "source_path", str))
            resolve(ctx.collections, dest, require(item, "destination_path", str))
        _sync_level(body)

    def execute(self, task: Task, ctx: ActionContext) -> None:
        """Copy every item."""
        body = task.body
        source = endpoint_of(body, ctx.collections, "source_endpoint", "source_endpoint_id")
        dest = endpoint_of(body, ctx.collections, "destination_endpoint", "destination_endpoint_id")

        def dest_local(shown: str) -> Path:
            # Every destination is re-resolved: a symlink already in the
            # destination tree must not carry a write out of the collection.
            try:
                return ctx.collections.local_path(dest, shown)
            except CollectionError:
                raise Fault(
                    "PERMISSION_DENIED", f"destination {shown} leads out of the collection"
                ) from None

        copier = _Copier(
            task.counters,
            dest_local,
            sync_level=_sync_level(body),
            preserve=bool(body.get("preserve_timestamp", False)),
            verify=bool(body.get("verify_checksum", False)),
            delete_extra=bool(body.get("delete_destination_extra", False)),
        )
        for item in body["DATA"]:
            src_shown, src = resolve(ctx.collections, source, item["source_path"])
            dst_shown = resolve(ctx.collections, dest, item["destination_path"])[0]
            copier.copy_item(src, item.get("recursive"), src_shown, dst_shown)


def _sync_level(body: dict[str, Any]) -> int | None:
    level = body.get("sync_level")
    if level is None:
        return None
    if isinstance(level, str) and level in SYNC_LEVELS:
        return SYNC_LEVELS[level]
    if isinstance(level, int) and not isinstance(level, bool) and 0 <= level <= 3:
        return level
    raise ActionUnableToRun(
        f"Field 'sync_level' must be 0-3 or one of {sorted(SYNC_LEVELS)}, got {level!r}"
    )


def _md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _Copier:
    def __init__(
        self,
        counters: Counters,
        dest_local: Callable[[str], Path],
        *,
        sync_level: int | None,
        preserve: bool,
        verify: bool,
        delete_extra: bool,
    ) -> None:
        self.c = counters
        self.dest_local = dest_local
        self.sync_level = sync_level
        self.preserve = preserve
        self.verify = verify
        self.delete_extra = delete_extra

    def copy_item(self, src: Path, recursive: object, src_shown: str, dst_shown: str) -> None:
        dst = self.dest_local(dst_shown)
        if not src.exists():
            raise Fault("FILE_NOT_FOUND", f"No such file or directory: {src_shown}")
        if src.is_dir():
            if recursive is False:
                raise Fault("IS_A_DIRECTORY", f"{src_shown} is a directory; set recursive")
            if dst.exists() and not dst.is_dir():
                raise Fault("NOT_A_DIRECTORY", f"destination {dst_shown} is not a directory")
            real_src = os.path.realpath(src).rstrip(os.sep) + os.sep
            if os.path.realpath(dst).startswith(real_src):
                # Copying a tree into itself would nest copies without end.
                raise Fault(
                    "INVALID_PATH", f"destination {dst_shown} is inside the source {src_shown}"
                )
            self._copy_tree(src, dst, dst_shown)
        else:
            if recursive is True:
                raise Fault("NOT_A_DIRECTORY", f"{src_shown} is not a directory (recursive set)")
            if dst.is_dir():
                raise Fault("IS_A_DIRECTORY", f"destination {dst_shown} is an existing directory")
            self._copy_file(src, dst, dst_shown)

    def _copy_tree(self, src: Path, dst: Path, dst_shown: str) -> None:
        dst.mkdir(parents=True, exist_ok=True)
        self.c.directories += 1
        wanted: set[str] = set()
        for child in sorted(src.iterdir()):
            if child.is_symlink():
                self.c.symlinks += 1
                continue
            wanted.add(child.name)
            shown = posixpath.join(dst_shown, child.name)
            target = self.dest_local(shown)
            if child.is_dir():
                if target.exists() and not target.is_dir():
                    raise Fault("NOT_A_DIRECTORY", f"destination {shown} is not a directory")
                self._copy_tree(child, target, shown)
            elif child.is_file():
                if target.is_dir():
                    raise Fault("IS_A_DIRECTORY", f"destination {shown} is a directory")
                self._copy_file(child, target, shown)
        if self.delete_extra:
            for extra in sorted(dst.iterdir()):
                if extra.name not in wanted:
                    _remove(extra)

    def _copy_file(self, src: Path, dst: Path, dst_shown: str) -> None:
        self.c.files += 1
        if dst.exists() and self._in_sync(src, dst):
            self.c.files_skipped += 1
            return
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
        shutil.copymode(src, dst)
        if self.preserve:
            info = src.stat()
            os.utime(dst, ns=(info.st_atime_ns, info.st_mtime_ns))
        size = src.stat().st_size
        self.c.files_transferred += 1
        self.c.bytes_transferred += size
        if self.verify:
            self.c.bytes_checksummed += size
            if _md5(src) != _md5(dst):
                raise Fault("CHECKSUM_MISMATCH", f"checksum of {dst_shown} differs from its source")

    def _in_sync(self, src: Path, dst: Path) -> bool:
        """Whether sync_level lets the file be skipped (Transfer's sync rules)."""
        level = self.sync_level
        if level is None:
            return False
        a, b = src.stat(), dst.stat()
        checks: list[Callable[[], bool]] = [
            lambda: True,
            lambda: a.st_size == b.st_size,
            lambda: a.st_size == b.st_size and int(b.st_mtime) >= int(a.st_mtime),
            lambda: a.st_size == b.st_size and _md5(src) == _md5(dst),
        ]
        return checks[level]()


def _remove(path: Path) -> int:
    """Remove a file, symlink (not its target) or tree; return the files removed."""
    if path.is_symlink() or not path.is_dir():
        path.unlink()
        return 1
    count = sum(1 for p in path.rglob("*") if not p.is_dir() or p.is_symlink())
    shutil.rmtree(path)
    return count


class DeleteProvider(_TaskProvider):
    """``https://transfer.actions.globus.org/delete``."""

    kind = "DELETE"

    def check(self, body: dict[str, Any], ctx: ActionContext) -> None:
        """Check the collection and each path."""
        endpoint = endpoint_of(body, ctx.collections, "endpoint", "endpoint_id")
        items = require(body, "DATA", list)
        if not items:
            raise ActionUnableToRun("Field 'DATA' must list at least one path")
        for item in items:
            if not isinstance(item, dict):
                raise ActionUnableToRun(
                    f'A DATA item must be an object like {{"path": "/x"}}, got {item!r}'
                )
            resolve(ctx.collections, endpoint, require(item, "path", str))

    def execute(self, task: Task, ctx: ActionContext) -> None:
        """Delete every path."""
        body = task.body
        endpoint = endpoint_of(body, ctx.collections, "endpoint", "endpoint_id")
        coll = ctx.collections.get(endpoint)
        protected = {
            os.path.realpath(coll.root),
            os.path.realpath(ctx.collections.local_path(endpoint, coll.home)),
        }
        for item in body["DATA"]:
            shown, local = resolve(ctx.collections, endpoint, item["path"])
            if not local.exists() and not local.is_symlink():
                if body.get("ignore_missing", False):
                    continue
                raise Fault("FILE_NOT_FOUND", f"No such file or directory: {shown}")
            if os.path.realpath(local) in protected and not local.is_symlink():
                # Never let a flow wipe a whole collection or home directory.
                raise Fault("PERMISSION_DENIED", f"refusing to delete the collection root {shown}")
            if local.is_dir() and not local.is_symlink():
                if not body.get("recursive", False):
                    raise Fault("IS_A_DIRECTORY", f"{shown} is a directory; set recursive")
                task.counters.directories += 1
            task.counters.files_deleted += _remove(local)

"""Transfer API documents built from local files: file entries and error bodies."""

from __future__ import annotations

import grp
import os
import pwd
import stat as statmod
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flowgen.simulate.collections import CollectionError, CollectionMap
from flowgen.simulate.providers.base import ActionUnableToRun, new_id


def transfer_time(epoch: float) -> str:
    """Transfer's file timestamp style: ``YYYY-MM-DD HH:MM:SS+00:00``."""
    return datetime.fromtimestamp(int(epoch), timezone.utc).strftime("%Y-%m-%d %H:%M:%S+00:00")


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def file_type(info: os.stat_result) -> str:
    """``dir``, ``file`` or ``symlink`` (Transfer's names) for an lstat result."""
    if statmod.S_ISLNK(info.st_mode):
        return "symlink"
    return "dir" if statmod.S_ISDIR(info.st_mode) else "file"


def file_document(local: Path, name: str) -> dict[str, Any]:
    """A Transfer ``file`` document for ``local`` (symlinks described, not followed)."""
    info = local.lstat()
    kind = file_type(info)
    return {
        "DATA_TYPE": "file",
        "name": name,
        "type": kind,
        "size": info.st_size,
        "permissions": f"{statmod.S_IMODE(info.st_mode):04o}",
        "user": _user(info.st_uid),
        "group": _group(info.st_gid),
        "last_modified": transfer_time(info.st_mtime),
        "link_target": str(local.readlink()) if kind == "symlink" else None,
        "link_group": None,
        "link_last_modified": None,
        "link_size": None,
        "link_user": None,
    }


def error_details(code: str, message: str, endpoint: str, operation: str) -> dict[str, Any]:
    """A Transfer API error body (what the action's ``details`` holds on an error)."""
    return {
        "code": code,
        "message": message,
        "request_id": new_id().replace("-", "")[:9],
        "resource": f"/operation/endpoint/{endpoint}/{operation}",
    }


def require(body: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    """``body[key]`` checked for type; ActionUnableToRun naming the field otherwise."""
    if key not in body:
        raise ActionUnableToRun(
            f"Field '{key}' is required",
            {"code": "BadRequest", "message": f"Field '{key}' is required"},
        )
    value = body[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise ActionUnableToRun(
            f"Field '{key}' has the wrong type: {value!r}",
            {"code": "BadRequest", "message": f"Field '{key}' has the wrong type: {value!r}"},
        )
    return value


def endpoint_of(body: Mapping[str, Any], collections: CollectionMap, *keys: str) -> str:
    """The collection id under the first of ``keys`` present, checked to be simulated."""
    key = next((k for k in keys if k in body), keys[0])
    uuid = require(body, key, str)
    if uuid not in collections:
        message = (
            f"Collection '{uuid}' not found ({key}); it is not one of the simulated collections"
        )
        raise ActionUnableToRun(message, {"code": "EndpointNotFound", "message": message})
    return str(uuid)


def resolve(collections: CollectionMap, endpoint: str, path: Any) -> tuple[str, Path]:
    """``(collection path, local path)``; ActionUnableToRun for a path leaving the root."""
    try:
        return collections.collection_path(endpoint, path), collections.local_path(endpoint, path)
    except CollectionError as exc:
        raise ActionUnableToRun(str(exc), {"code": "BadRequest", "message": str(exc)}) from None

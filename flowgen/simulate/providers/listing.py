"""The synchronous Transfer actions on paths: ``stat``, ``ls`` and ``mkdir``."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Callable
from typing import Any

from flowgen.simulate.providers.base import ActionContext, ActionStatus, ActionUnableToRun
from flowgen.simulate.providers.filedocs import (
    endpoint_of,
    error_details,
    file_document,
    require,
    resolve,
)


def stat(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
    """``/stat``: a file document, or SUCCEEDED with ``details.code == "NotFound"``."""
    endpoint = endpoint_of(body, ctx.collections, "endpoint_id", "endpoint")
    shown, local = resolve(ctx.collections, endpoint, require(body, "path", str))
    if not local.exists() and not local.is_symlink():
        return ActionStatus.succeeded(
            error_details(
                "NotFound",
                f"Path not found, Error (list)\nEndpoint: {endpoint}\nPath: {shown}\n",
                endpoint,
                "stat",
            )
        )
    name = posixpath.basename(shown.rstrip("/")) or "/"
    return ActionStatus.succeeded(file_document(local, name))


def mkdir(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
    """``/mkdir``: FAILED with ``ExternalError.MkdirFailed.Exists`` when the path exists."""
    endpoint = endpoint_of(body, ctx.collections, "endpoint_id", "endpoint")
    shown, local = resolve(ctx.collections, endpoint, require(body, "path", str))
    if local.exists() or local.is_symlink():
        return ActionStatus.failed(
            error_details(
                "ExternalError.MkdirFailed.Exists",
                f"Command Failed: Error (mkdir)\nEndpoint: {endpoint}\nPath: {shown}\n"
                "Details: 550-Path already exists\n",
                endpoint,
                "mkdir",
            )
        )
    if not local.parent.is_dir():
        # GridFTP mkdir is not recursive: a missing parent is an error.
        return ActionStatus.failed(
            error_details(
                "ExternalError.MkdirFailed.NotFound",
                f"Command Failed: Error (mkdir)\nEndpoint: {endpoint}\nPath: {shown}\n"
                "Details: 550-No such file or directory (parent missing)\n",
                endpoint,
                "mkdir",
            )
        )
    local.mkdir()
    details = error_details(
        "DirectoryCreated", "The directory was created successfully", endpoint, "mkdir"
    )
    return ActionStatus.succeeded({"DATA_TYPE": "mkdir_result", **details})


Predicate = Callable[[dict[str, Any]], bool]


def parse_filter(text: str) -> Predicate:
    """Parse a Transfer ls filter (``name:~*.txt/type:dir``; clauses ANDed by ``/``)."""
    clauses: list[Predicate] = []
    for clause in text.split("/"):
        field, sep, pattern = clause.partition(":")
        if not sep:
            raise ActionUnableToRun(f"Invalid filter clause {clause!r}: expected field:pattern")
        clauses.append(_clause(field.strip(), pattern))
    return lambda entry: all(check(entry) for check in clauses)


def _clause(field: str, pattern: str) -> Predicate:
    if field in ("name", "user", "group", "permissions"):
        negate = pattern.startswith("!")
        body = pattern[1:] if negate else pattern
        if body.startswith("~"):
            glob = body[1:]

            def test(value: str) -> bool:
                return fnmatch.fnmatchcase(value, glob)
        else:
            exact = body[1:] if body.startswith("=") else body
            options = set(exact.split(","))

            def test(value: str) -> bool:
                return value in options

        return lambda entry: test(str(entry[field])) != negate
    if field == "type":
        kinds = set(pattern.split(","))
        return lambda entry: entry["type"] in kinds
    if field in ("size", "last_modified"):
        low, sep, high = pattern.partition(",")
        if not sep:
            raise ActionUnableToRun(f"Filter on {field} needs a range 'low,high', got {pattern!r}")

        def in_range(entry: dict[str, Any]) -> bool:
            value = entry[field]
            if field == "size":
                return (not low or value >= int(low)) and (not high or value <= int(high))
            return (not low or value >= low) and (not high or value <= high)

        return in_range
    raise ActionUnableToRun(f"Unsupported filter field {field!r}")


def ls(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
    """``/ls``: a Transfer ``file_list`` with limit, offset, show_hidden, orderby, filter."""
    endpoint = endpoint_of(body, ctx.collections, "endpoint_id", "endpoint")
    shown, local = resolve(ctx.collections, endpoint, body.get("path", "/~/"))
    if not local.is_dir():
        missing = not local.exists()
        if ctx.options.ls_missing_path == "not_found" and missing:
            return ActionStatus.succeeded(
                error_details("NotFound", f"Path not found: {shown}", endpoint, "ls")
            )
        code = "ClientError.NotFound" if missing else "ExternalError.DirListingFailed.NotDirectory"
        reason = "No such file or directory" if missing else "Not a directory"
        return ActionStatus.failed(
            error_details(code, f"Directory listing failed: {shown}: {reason}", endpoint, "ls")
        )
    entries = [file_document(child, child.name) for child in local.iterdir()]
    if not body.get("show_hidden", True):
        entries = [e for e in entries if not e["name"].startswith(".")]
    filters = body.get("filter")
    if filters:
        predicates = [
            parse_filter(f) for f in (filters if isinstance(filters, list) else [filters])
        ]
        entries = [e for e in entries if any(p(e) for p in predicates)]
    entries = _order(entries, body.get("orderby", "name ASC"))
    offset = int(body.get("offset", 0))
    limit = int(body.get("limit", 100_000))
    page = entries[offset : offset + limit]
    return ActionStatus.succeeded(
        {
            "DATA_TYPE": "file_list",
            "DATA": page,
            "path": shown.rstrip("/") + "/",
            "absolute_path": None,
            "endpoint": endpoint,
            "length": len(page),
            "total": len(entries),
            "rename_supported": True,
            "symlink_supported": False,
        }
    )


_ORDER_FIELDS = ("name", "type", "size", "last_modified", "permissions", "user", "group")


def _order(entries: list[dict[str, Any]], orderby: Any) -> list[dict[str, Any]]:
    specs = orderby if isinstance(orderby, list) else str(orderby).split(",")
    for spec in reversed([s.strip() for s in specs if s.strip()]):
        field, _, direction = spec.partition(" ")
        if field not in _ORDER_FIELDS:
            raise ActionUnableToRun(f"Cannot order by {field!r}; use one of {_ORDER_FIELDS}")
        entries = sorted(
            entries, key=lambda e: e[field], reverse=direction.strip().upper() == "DESC"
        )
    return entries

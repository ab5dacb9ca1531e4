"""Typed helpers for the Globus Transfer action providers.

Each returns an :class:`~flowgen.dsl.states.Action` for
``https://transfer.actions.globus.org/<op>`` with the providers' current
parameter names (``source_endpoint``, ``destination_endpoint``, ``DATA``,
``endpoint_id``, ``endpoint``); the retired names (``transfer_items``,
``source_endpoint_id``...) cannot be produced. Values may be literals,
:class:`~flowgen.dsl.params.Ref` or :class:`~flowgen.dsl.params.Expr`.
Optional Transfer fields are sent only when given. Every helper also takes
the Action options of :class:`ActionOptions` (``result_path``, ``next``,
``end``, ``catch``, ...).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, TypedDict

if sys.version_info >= (3, 11):
    from typing import Unpack
else:  # pragma: no cover - exercised on 3.10 only
    from typing_extensions import Unpack

from flowgen.dsl.errors import DSLError
from flowgen.dsl.states import Action, Catch

TRANSFER_AP: Final = "https://transfer.actions.globus.org"
"""Base URL of the Transfer action providers (the only supported ones since 2025-01-22)."""

SyncLevel = Literal["exists", "size", "mtime", "checksum"]
SYNC_LEVELS: Final[dict[str, int]] = {"exists": 0, "size": 1, "mtime": 2, "checksum": 3}


def action_url(op: str) -> str:
    """The ActionUrl of one Transfer action provider."""
    return f"{TRANSFER_AP}/{op}"


def transfer_item(
    source_path: Any, destination_path: Any, *, recursive: bool | None = None
) -> dict[str, Any]:
    """One ``DATA`` entry of a transfer. ``recursive=None`` lets Transfer detect file or directory."""
    item: dict[str, Any] = {"source_path": source_path, "destination_path": destination_path}
    if recursive is not None:
        item["recursive"] = recursive
    return item


class ActionOptions(TypedDict, total=False):
    """The Action-state options every helper accepts (see :class:`~flowgen.dsl.states.Action`)."""

    result_path: str | None
    next: str | None
    end: bool
    catch: Sequence[Catch]
    wait_time: int | None
    exception_on_action_failure: bool
    comment: str | None
    run_as: str | None


def _action(op: str, parameters: Mapping[str, Any], options: ActionOptions) -> Action:
    """An Action for one provider; parameters left as None are not sent."""
    return Action(
        action_url=action_url(op),
        parameters={k: v for k, v in parameters.items() if v is not None},
        **options,
    )


def transfer(
    source_endpoint: Any,
    destination_endpoint: Any,
    items: Sequence[Mapping[str, Any]] | Any,
    *,
    label: Any = None,
    sync_level: SyncLevel | None = None,
    verify_checksum: bool | None = None,
    preserve_timestamp: bool | None = None,
    encrypt_data: bool | None = None,
    delete_destination_extra: bool | None = None,
    skip_source_errors: bool | None = None,
    fail_on_quota_errors: bool | None = None,
    deadline: Any = None,
    filter_rules: Sequence[Mapping[str, str]] | None = None,
    notify_on_succeeded: bool | None = None,
    notify_on_failed: bool | None = None,
    **options: Unpack[ActionOptions],
) -> Action:
    """Copy files or directories between two collections (asynchronous).

    ``items`` is a list of :func:`transfer_item` entries, or an Expr/Ref that
    computes the whole list (for batches built from a listing).
    """
    is_list = isinstance(items, Sequence) and not isinstance(items, str)
    if is_list and not items:
        raise DSLError("a transfer needs at least one item")
    if sync_level is not None and sync_level not in SYNC_LEVELS:
        raise DSLError(f"sync_level must be one of {', '.join(SYNC_LEVELS)}, got {sync_level!r}")
    return _action(
        "transfer",
        {
            "source_endpoint": source_endpoint,
            "destination_endpoint": destination_endpoint,
            "label": label,
            "sync_level": SYNC_LEVELS[sync_level] if sync_level else None,
            "verify_checksum": verify_checksum,
            "preserve_timestamp": preserve_timestamp,
            "encrypt_data": encrypt_data,
            "delete_destination_extra": delete_destination_extra,
            "skip_source_errors": skip_source_errors,
            "fail_on_quota_errors": fail_on_quota_errors,
            "deadline": deadline,
            "filter_rules": [dict(r) for r in filter_rules] if filter_rules else None,
            "notify_on_succeeded": notify_on_succeeded,
            "notify_on_failed": notify_on_failed,
            "DATA": list(items) if is_list else items,
        },
        options,
    )


def delete(
    endpoint: Any,
    paths: Sequence[Any] | Any,
    *,
    recursive: bool | None = None,
    ignore_missing: bool | None = None,
    label: Any = None,
    **options: Unpack[ActionOptions],
) -> Action:
    """Delete paths on a collection (asynchronous). ``paths`` are strings, Refs or Exprs."""
    data = (
        [{"path": path} for path in paths]
        if isinstance(paths, Sequence) and not isinstance(paths, str)
        else paths
    )
    return _action(
        "delete",
        {
            "endpoint": endpoint,
            "recursive": recursive,
            "ignore_missing": ignore_missing,
            "label": label,
            "DATA": data,
        },
        options,
    )


def mkdir(endpoint_id: Any, path: Any, **options: Unpack[ActionOptions]) -> Action:
    """Create one directory (not recursive; an existing one fails with MkdirFailed.Exists)."""
    return _action("mkdir", {"endpoint_id": endpoint_id, "path": path}, options)


def stat(endpoint_id: Any, path: Any, **options: Unpack[ActionOptions]) -> Action:
    """Status of one path. A missing path SUCCEEDS with ``details.code == "NotFound"``."""
    return _action("stat", {"endpoint_id": endpoint_id, "path": path}, options)


def ls(
    endpoint_id: Any,
    path: Any,
    *,
    limit: int | None = None,
    offset: int | None = None,
    filter: Any = None,
    orderby: Any = None,
    show_hidden: bool | None = None,
    **options: Unpack[ActionOptions],
) -> Action:
    """List a directory; ``filter`` uses the Transfer syntax (``name:~*.txt``, ``type:dir``)."""
    return _action(
        "ls",
        {
            "endpoint_id": endpoint_id,
            "path": path,
            "limit": limit,
            "offset": offset,
            "filter": filter,
            "orderby": orderby,
            "show_hidden": show_hidden,
        },
        options,
    )


def collection_info(endpoint_id: Any, **options: Unpack[ActionOptions]) -> Action:
    """Look a collection up (entity_type, subscription_id, display_name, ...)."""
    return _action("collection_info", {"endpoint_id": endpoint_id}, options)


PrincipalType = Literal["identity", "group", "all_authenticated_users", "anonymous"]


def manage_permission(
    operation: Literal["CREATE", "UPDATE", "DELETE"],
    endpoint_id: Any,
    *,
    path: Any = None,
    principal_type: PrincipalType | None = None,
    principal: Any = None,
    permissions: Literal["r", "rw"] | Any = None,
    rule_id: Any = None,
    **options: Unpack[ActionOptions],
) -> Action:
    """Create, update or delete an access rule on a (guest) collection.

    CREATE needs ``path``, ``principal_type``, ``principal`` (``""`` for the
    all-users types) and ``permissions``; UPDATE needs ``rule_id`` and
    ``permissions``; DELETE needs ``rule_id``.
    """
    needed = {
        "CREATE": ("path", "principal_type", "principal", "permissions"),
        "UPDATE": ("rule_id", "permissions"),
        "DELETE": ("rule_id",),
    }
    if operation not in needed:
        raise DSLError(f"operation must be CREATE, UPDATE or DELETE, got {operation!r}")
    given = {
        "path": path,
        "principal_type": principal_type,
        "principal": principal,
        "permissions": permissions,
        "rule_id": rule_id,
    }
    missing = [name for name in needed[operation] if given[name] is None]
    if missing:
        raise DSLError(f"manage_permission {operation} needs {', '.join(missing)}")
    return _action(
        "manage_permission", {"operation": operation, "endpoint_id": endpoint_id, **given}, options
    )

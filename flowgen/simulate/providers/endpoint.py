"""The Transfer actions on collections: ``collection_info`` and ``manage_permission``."""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from flowgen.simulate.providers.base import (
    ActionContext,
    ActionStatus,
    ActionUnableToRun,
    new_id,
)
from flowgen.simulate.providers.filedocs import endpoint_of, require, resolve

GCP_GUEST = "GCP_guest_collection"
GCS_GUEST = "GCSv5_guest_collection"
SIMULATED_GCS_VERSION = "5.4.80"
"""What a simulated Globus Connect Server collection reports as its version."""
PRINCIPAL_TYPES = ("identity", "group", "all_authenticated_users", "anonymous")
PERMISSIONS = ("r", "rw")
ACL_RECORD = "acl_rules"
"""Key of ``ActionContext.records`` / ``RunResult.records`` listing access rules."""


def collection_info(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
    """``/collection_info``: the collection document with the configured entity type.

    ``entity_type`` and ``subscription_id`` are the collection's (see
    :data:`~flowgen.simulate.collections.COLLECTION_KINDS`); the Globus
    Connect Personal and Server fields follow from the entity type.
    """
    endpoint = endpoint_of(body, ctx.collections, "endpoint_id", "endpoint")
    coll = ctx.collections.get(endpoint)
    personal = coll.entity_type.startswith("GCP")
    document: dict[str, Any] = {
        "DATA_TYPE": "endpoint",
        "DATA": [],
        "id": endpoint,
        "display_name": coll.display_name or f"Simulated collection {endpoint}",
        "entity_type": coll.entity_type,
        "subscription_id": coll.subscription_id,
        "owner_id": str(ctx.run_context.get("user_id", "")).rsplit(":", 1)[-1],
        "owner_string": coll.owner_string,
        "organization": "",
        "department": "",
        "description": "",
        "default_directory": coll.home.rstrip("/") + "/",
        "high_assurance": False,
        "non_functional": False,
        "public": False,
        "is_globus_connect": personal,
        "gcp_connected": True if personal else None,
        "gcp_paused": False if personal else None,
        "activated": True,
        "local_user_info_available": True,
        **_hosts(endpoint, coll.entity_type),
    }
    document.update(dict(coll.extra))
    return ActionStatus.succeeded(document)


def _hosts(endpoint: str, entity_type: str) -> dict[str, Any]:
    """The fields naming what a collection lives on, as Transfer fills them per entity type.

    A GCSv5 collection belongs to an endpoint (``non_functional_endpoint_id``)
    and a GCSv5 guest collection to a mapped collection
    (``mapped_collection_id``); a GCP guest collection is shared from its
    host (``host_endpoint_id``). The ids are made up, stable per collection.
    """
    gcs = entity_type.startswith("GCSv5")
    return {
        "host_endpoint_id": _made_up(endpoint, "host") if entity_type == GCP_GUEST else None,
        "non_functional_endpoint_id": _made_up(endpoint, "endpoint") if gcs else None,
        "mapped_collection_id": _made_up(endpoint, "mapped") if entity_type == GCS_GUEST else None,
        "gcs_version": SIMULATED_GCS_VERSION if gcs else None,
    }


def _made_up(endpoint: str, role: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"flowgen-simulate:{role}:{endpoint}"))


@dataclass
class AccessRule:
    """One access rule created through ``manage_permission``."""

    access_id: str
    endpoint_id: str
    path: str
    principal_type: str
    principal: str
    permissions: str
    created: str
    deleted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def _rules(ctx: ActionContext) -> list[AccessRule]:
    rules: list[AccessRule] = ctx.records.setdefault(ACL_RECORD, [])
    return rules


def _result(code: str, message: str, endpoint: str, rule: AccessRule | None) -> dict[str, Any]:
    details: dict[str, Any] = {
        "DATA_TYPE": "result",
        "code": code,
        "message": message,
        "request_id": new_id().replace("-", "")[:9],
        "resource": f"/endpoint/{endpoint}/access",
    }
    if rule is not None:
        details["access_id"] = rule.access_id
    return details


def manage_permission(body: dict[str, Any], ctx: ActionContext) -> ActionStatus:
    """``/manage_permission``: CREATE, UPDATE or DELETE an access rule (recorded)."""
    operation = require(body, "operation", str)
    endpoint = endpoint_of(body, ctx.collections, "endpoint_id", "endpoint")
    if operation == "CREATE":
        shown, _ = resolve(ctx.collections, endpoint, require(body, "path", str))
        principal_type = require(body, "principal_type", str)
        if principal_type not in PRINCIPAL_TYPES:
            raise ActionUnableToRun(
                f"Field 'principal_type' must be one of {PRINCIPAL_TYPES}, got {principal_type!r}"
            )
        principal = body.get("principal", "")
        if principal_type in ("identity", "group") and not principal:
            raise ActionUnableToRun(f"Field 'principal' is required for a {principal_type}")
        rule = AccessRule(
            access_id=new_id(),
            endpoint_id=endpoint,
            path=shown.rstrip("/") + "/",
            principal_type=principal_type,
            principal=str(principal),
            permissions=_permissions(body),
            created=_iso(ctx.now()),
        )
        _rules(ctx).append(rule)
        return ActionStatus.succeeded(
            _result("Created", "Access rule created successfully.", endpoint, rule)
        )
    if operation in ("UPDATE", "DELETE"):
        rule_id = require(body, "rule_id", str)
        found = next((r for r in _rules(ctx) if r.access_id == rule_id and not r.deleted), None)
        if found is None or found.endpoint_id != endpoint:
            return ActionStatus.failed(
                _result("AccessRuleNotFound", f"Access rule '{rule_id}' not found", endpoint, None)
            )
        if operation == "UPDATE":
            found.permissions = _permissions(body)
            return ActionStatus.succeeded(
                _result("Updated", "Access rule updated successfully", endpoint, found)
            )
        found.deleted = True
        return ActionStatus.succeeded(
            _result("Deleted", "Access rule deleted successfully", endpoint, found)
        )
    raise ActionUnableToRun(
        f"Field 'operation' must be CREATE, UPDATE or DELETE, got {operation!r}"
    )


def _permissions(body: dict[str, Any]) -> str:
    permissions = require(body, "permissions", str)
    if permissions not in PERMISSIONS:
        raise ActionUnableToRun(f"Field 'permissions' must be 'r' or 'rw', got {permissions!r}")
    return str(permissions)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")

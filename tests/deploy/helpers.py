"""Constants and helpers for the online-command tests: the flow, its roles, recorded calls.

Imported by module path (``from .helpers import ...``); the fixtures that use
them are in conftest.py.
"""

from __future__ import annotations

import json
from typing import Any

import responses
from globus_sdk.testing import RegisteredResponse

FLOW_ID = "a1b2c3d4-0000-4000-8000-0000000000f1"
GROUP = "0b7c5fd9-8a5e-4b8e-9f3e-2a6c1d0e4f11"
GROUP_URN = f"urn:globus:groups:id:{GROUP}"
ADMIN = "ae341a98-d274-11e5-b888-dbae3a8ba545"
ADMIN_URN = f"urn:globus:auth:identity:{ADMIN}"
FLOWS = "https://flows.globus.org"

CONFIG = f"""\
name = "mycluster"
hpc_name = "My Cluster"
collection = "8f2c7a4e-1b3d-4c5e-9f6a-0b1c2d3e4f5a"
base_path = "/project/flowcron"

[deploy]
subtitle = "Run analyses on My Cluster"
starters = ["group:{GROUP}"]
administrators = ["identity:{ADMIN}"]
"""


def flow_doc(built: tuple[dict[str, Any], dict[str, Any]], **changes: Any) -> dict[str, Any]:
    """The flow document the service returns for a flow deployed exactly from ``built``."""
    definition, schema = built
    doc: dict[str, Any] = {
        "id": FLOW_ID,
        "title": "FlowCron-mycluster",
        "subtitle": "Run analyses on My Cluster",
        "description": "",
        "keywords": [],
        "definition": definition,
        "input_schema": schema,
        "flow_starters": [GROUP_URN],
        "flow_administrators": [ADMIN_URN],
        "flow_viewers": [],
        "run_managers": [],
        "run_monitors": [],
        "flow_owner": ADMIN_URN,
        "subscription_id": None,
    }
    doc.update(changes)
    return doc


def register(method: str, path: str, body: Any = None, status: int = 200, **kw: Any) -> None:
    """Register one Flows API response."""
    RegisteredResponse(
        service="flows", method=method, path=path, json=body or {}, status=status, **kw
    ).add()


def flows_error(status: int, code: str, message: str, detail: Any = None) -> dict[str, Any]:
    """A Flows API error body."""
    error: dict[str, Any] = {"code": code, "message": message}
    if detail is not None:
        error["detail"] = detail
    return {"error": error, "debug_id": "test"}


def sent(method: str | None = None) -> list[Any]:
    """The requests sent so far (of one method)."""
    return [c.request for c in responses.calls if method is None or c.request.method == method]


def body_of(request: Any) -> dict[str, Any]:
    """A request's JSON body."""
    return dict(json.loads(request.body))

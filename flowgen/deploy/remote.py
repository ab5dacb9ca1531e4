"""The service's own validation of a flow, as flowgen findings with locations."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowgen.core.findings import Finding, Severity
from flowgen.core.jsonpath import Token, format_path

if TYPE_CHECKING:
    import globus_sdk

REMOTE_CODE = "REMOTE"
"""The finding code for problems the Globus service reported."""


def detail_findings(raw: Any, files: dict[str, str] | None = None) -> list[Finding]:
    """Findings from a 422 body's ``error.detail`` list; ``loc`` becomes a JSONPath.

    ``files`` names the document each top-level ``loc`` entry refers to
    (``{"definition": "FlowCron-x_definition.json"}``).
    """
    error = raw.get("error") if isinstance(raw, dict) else None
    details = error.get("detail") if isinstance(error, dict) else None
    if not isinstance(details, list):
        message = error.get("message") if isinstance(error, dict) else None
        return [Finding("", "$", REMOTE_CODE, Severity.ERROR, str(message or raw))]
    findings = []
    for item in details:
        if not isinstance(item, dict):
            continue
        loc = [step for step in item.get("loc", []) if isinstance(step, str | int)]
        if loc and loc[0] == "body":
            loc = loc[1:]
        document = str(loc[0]) if loc else ""
        steps: tuple[Token, ...] = tuple(loc[1:]) if loc else ()
        file = (files or {}).get(document, document)
        findings.append(
            Finding(file, format_path(steps), REMOTE_CODE, Severity.ERROR, str(item.get("msg", "")))
        )
    return sorted(findings)


def validate_remotely(
    client: globus_sdk.FlowsClient,
    definition: dict[str, Any],
    input_schema: dict[str, Any],
    files: dict[str, str] | None = None,
) -> list[Finding]:
    """Run the service's ``validate_flow``; its 422 findings are returned, not raised."""
    import globus_sdk

    try:
        client.validate_flow(definition=definition, input_schema=input_schema)
    except globus_sdk.FlowsAPIError as exc:
        if exc.http_status != 422:
            raise
        return detail_findings(exc.raw_json, files)
    return []

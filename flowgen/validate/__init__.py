"""Offline validation of Globus flow definitions and input schemas.

Stage 1 checks a definition's shape against the project's JSON Schema
(``schemas/flow_definition.schema.json``); stage 2 checks what a schema
cannot: the state graph and its polling loops, JSONPaths, expressions,
Transfer provider names, placeholders and principals. Every problem is a
:class:`~flowgen.core.findings.Finding` with a stable code from :data:`RULES`,
a JSONPath location and a message that says what to fix. Nothing here
needs credentials or the network, and no input makes it raise.

>>> from flowgen.validate import validate_definition
>>> [f.code for f in validate_definition({"StartAt": "A", "States": {}})]
['FG201', 'FG105']
"""

from __future__ import annotations

from flowgen.core.findings import Finding
from flowgen.validate.input_schema import check_input_schema
from flowgen.validate.placeholders import check_placeholders
from flowgen.validate.principals import (
    MAX_PRINCIPALS,
    ROLES,
    PrincipalProblem,
    check_principal,
    check_principals,
)
from flowgen.validate.rules import RULES, Reporter, Rule, finalize
from flowgen.validate.semantic import check_semantics
from flowgen.validate.structure import check_structure

__all__ = [
    "MAX_PRINCIPALS",
    "ROLES",
    "RULES",
    "PrincipalProblem",
    "Rule",
    "check_principal",
    "check_principals",
    "validate_definition",
    "validate_flow",
    "validate_input_schema",
]


def validate_definition(definition: object, *, file: str = "") -> list[Finding]:
    """Every finding for a flow definition (any JSON value), sorted and de-duplicated."""
    report = Reporter(file)
    check_structure(definition, report)
    check_semantics(definition, report)
    return finalize(report.findings)


def validate_input_schema(schema: object, *, file: str = "") -> list[Finding]:
    """Every finding for a flow input schema (any JSON value), sorted and de-duplicated."""
    report = Reporter(file)
    check_input_schema(schema, report)
    check_placeholders(schema, report)
    return finalize(report.findings)


def validate_flow(
    definition: object,
    input_schema: object | None = None,
    *,
    definition_file: str = "",
    schema_file: str = "",
) -> list[Finding]:
    """Findings for a definition and, when given, its input schema, in one sorted list."""
    findings = validate_definition(definition, file=definition_file)
    if input_schema is not None:
        findings += validate_input_schema(input_schema, file=schema_file)
    return finalize(findings)

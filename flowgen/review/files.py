"""Validate flows given as files: what ``flowgen validate`` does, callable from Python.

Each path may be a flow definition, an input schema (recognised by its
shape), a ``flowgen build`` directory or an instance config. The checks
themselves live in :mod:`flowgen.validate`; this module only decides which
check each file gets and pairs definitions with their schema.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from flowgen.core import jsonio
from flowgen.core.findings import Finding
from flowgen.review.load import load_flow_docs, looks_like_input_schema


def check_files(paths: Sequence[Path], *, input_schema: Path | None = None) -> list[Finding]:
    """All findings for ``paths``, deduplicated and sorted.

    ``input_schema`` is checked together with every definition given (and
    on its own when no definition is). Unreadable or malformed files raise
    :class:`~flowgen.core.errors.InputFileError` naming file, line and column.
    """
    # Imported here: the validator loads jsonschema, which costs start-up time.
    from flowgen.validate import validate_definition, validate_flow, validate_input_schema

    schema: Any = jsonio.load(input_schema) if input_schema is not None else None
    schema_file = str(input_schema) if input_schema is not None else ""
    findings: set[Finding] = set()
    checked_with_schema = False
    for path in paths:
        if path.suffix == ".toml" or path.is_dir():
            docs = load_flow_docs(path, input_schema)
            findings.update(
                validate_flow(
                    docs.definition,
                    docs.input_schema,
                    definition_file=docs.definition_file,
                    schema_file=docs.schema_file,
                )
            )
            checked_with_schema = checked_with_schema or input_schema is not None
            continue
        document = jsonio.load(path)
        if looks_like_input_schema(document):
            findings.update(validate_input_schema(document, file=str(path)))
        elif schema is not None:
            findings.update(
                validate_flow(document, schema, definition_file=str(path), schema_file=schema_file)
            )
            checked_with_schema = True
        else:
            findings.update(validate_definition(document, file=str(path)))
    if schema is not None and not checked_with_schema:
        findings.update(validate_input_schema(schema, file=schema_file))
    return sorted(findings)

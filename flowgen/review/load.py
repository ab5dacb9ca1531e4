"""A flow as the commands see it: a definition plus an optional input schema.

``diff``, ``graph`` and ``validate`` accept the same kinds of input, so they
share one loader: a definition JSON file (optionally with an input schema
file), a directory written by ``flowgen build``, or an instance config
(``.toml``), which is built in memory first.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowgen.core import jsonio
from flowgen.core.errors import InputFileError, UsageError

DEFINITION_SUFFIX = "_definition.json"
"""How ``flowgen build`` names the definition file in its output directory."""
INPUT_SCHEMA_SUFFIX = "_input_schema.json"
"""How ``flowgen build`` names the input schema file in its output directory."""


@dataclass(frozen=True)
class FlowDocs:
    """A flow definition and, when known, its input schema.

    ``definition_file`` and ``schema_file`` name where each document came
    from, for messages and findings (empty when built in memory).
    """

    definition: dict[str, Any]
    input_schema: dict[str, Any] | None = None
    definition_file: str = ""
    schema_file: str = ""


def looks_like_input_schema(document: object) -> bool:
    """Whether a JSON document is an input schema rather than a flow definition.

    A definition always has ``States``; a schema has ``type`` or
    ``properties`` and no ``States``.
    """
    return (
        isinstance(document, dict)
        and "States" not in document
        and ("type" in document or "properties" in document)
    )


def load_flow_docs(path: Path | str, input_schema: Path | str | None = None) -> FlowDocs:
    """Load a flow from a definition file, a ``flowgen build`` directory or a config.

    ``path`` may be:

    * a definition JSON file; ``input_schema`` names its schema file, if any;
    * a directory holding one ``*_definition.json`` (and optionally the
      matching ``*_input_schema.json``), as ``flowgen build`` writes them;
    * an instance config (``.toml``), built in memory into both documents.

    An explicit ``input_schema`` always wins over one found or built.
    Raises :class:`~flowgen.core.errors.InputFileError` for unreadable or malformed
    files and :class:`~flowgen.core.errors.UsageError` for input of the wrong kind.
    """
    path = Path(path)
    if path.suffix == ".toml":
        docs = _from_config(path)
    elif path.is_dir():
        docs = _from_build_directory(path)
    else:
        docs = FlowDocs(definition=_load_definition(path), definition_file=str(path))
    if input_schema is not None:
        schema_path = Path(input_schema)
        docs = FlowDocs(
            definition=docs.definition,
            input_schema=_load_schema(schema_path),
            definition_file=docs.definition_file,
            schema_file=str(schema_path),
        )
    return docs


def _load_definition(path: Path) -> dict[str, Any]:
    document = jsonio.load(path)
    if not isinstance(document, dict):
        raise InputFileError(
            f"{path}: expected a flow definition (a JSON object with StartAt and States), "
            f"found a JSON {_json_kind(document)}"
        )
    if "States" not in document and looks_like_input_schema(document):
        raise UsageError(
            f"{path}: this looks like an input schema, not a flow definition; "
            "pass it with --input-schema and give the definition file instead"
        )
    return document


def _load_schema(path: Path) -> dict[str, Any]:
    document = jsonio.load(path)
    if not isinstance(document, dict):
        raise InputFileError(
            f"{path}: expected an input schema (a JSON object), found a JSON {_json_kind(document)}"
        )
    if "States" in document:
        raise UsageError(
            f"{path}: this is a flow definition, not an input schema; "
            "give it as the flow argument instead"
        )
    return document


def _from_build_directory(directory: Path) -> FlowDocs:
    definitions = sorted(directory.glob(f"*{DEFINITION_SUFFIX}"))
    if not definitions:
        raise UsageError(
            f"{directory}: no *{DEFINITION_SUFFIX} file in this directory; "
            "give a definition file, a flowgen build directory or an instance config"
        )
    if len(definitions) > 1:
        names = ", ".join(p.name for p in definitions)
        raise UsageError(f"{directory}: several definitions ({names}); name the file to use")
    definition_path = definitions[0]
    stem = definition_path.name[: -len(DEFINITION_SUFFIX)]
    schema_path = directory / f"{stem}{INPUT_SCHEMA_SUFFIX}"
    schema = _load_schema(schema_path) if schema_path.is_file() else None
    return FlowDocs(
        definition=_load_definition(definition_path),
        input_schema=schema,
        definition_file=str(definition_path),
        schema_file=str(schema_path) if schema is not None else "",
    )


def _from_config(path: Path) -> FlowDocs:
    if not path.is_file():
        raise InputFileError(f"{path}: no such file")
    try:
        # Imported here: the FlowCron builder pulls in the whole DSL, which
        # commands given plain JSON files never need.
        from flowgen.flowcron.build import build_from_config
    except ImportError as exc:
        raise UsageError(
            f"{path}: this flowgen cannot build instance configs ({exc}); "
            "give the built definition file instead"
        ) from None
    definition, schema = build_from_config(path)
    return FlowDocs(
        definition=definition,
        input_schema=schema,
        definition_file=str(path),
        schema_file=str(path),
    )


def _json_kind(value: object) -> str:
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "null"

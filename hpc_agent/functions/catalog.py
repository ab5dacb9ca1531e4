"""The catalogue: an instance's functions as one JSON document for the user side.

``hpc-agent function catalog`` writes it and the PI commits it next to the
flow config (``flows/<name>.functions.json``); ``flowgen uow new`` and
``flowgen uow check`` read it. It carries each function's name, version,
description, help, files' hash, its parameters twice (as declared, so
``flowgen uow check`` runs the agent's own checks, and as JSON Schema, for
forms and editors) and its resources. It never carries the template or the
site settings: they stay on the HPC.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from hpc_agent.functions.params import Param
from hpc_agent.functions.spec import Function, Library, Resources

CATALOG_FORMAT: Final = "flowcron-functions/1"


def to_catalog(library: Library, *, instance: str) -> dict[str, Any]:
    """The catalogue document of ``library`` (broken functions are left out, and listed)."""
    return {
        "format": CATALOG_FORMAT,
        "instance": instance,
        "functions": [_entry(library.functions[name]) for name in sorted(library.functions)],
        "broken": sorted(library.broken),
    }


def _entry(function: Function) -> dict[str, Any]:
    return {
        "name": function.name,
        "version": function.version,
        "description": function.description,
        "help": function.help,
        "sha256": function.sha256,
        "params": [p.to_json() for p in function.params],
        "params_schema": params_schema(function),
        "resources": function.resources.to_json(),
    }


def params_schema(function: Function) -> dict[str, Any]:
    """The ``[params]`` table of a call of ``function``, as a JSON Schema."""
    properties: dict[str, Any] = {}
    for param in function.params:
        properties[param.name] = _property(param)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"{function.name} {function.version}",
        "description": function.description,
        "type": "object",
        "properties": properties,
        "required": [p.name for p in function.params if p.default is None],
        "additionalProperties": False,
    }


def _property(param: Param) -> dict[str, Any]:
    out: dict[str, Any] = {"description": param.help} if param.help else {}
    if param.type in ("int", "float"):
        out["type"] = "integer" if param.type == "int" else "number"
        if param.minimum is not None:
            out["minimum"] = int(param.minimum) if param.type == "int" else param.minimum
        if param.maximum is not None:
            out["maximum"] = int(param.maximum) if param.type == "int" else param.maximum
    elif param.type == "bool":
        out["type"] = "boolean"
    elif param.type == "enum":
        out["enum"] = list(param.choices)
    else:
        out["type"] = "string"
        if param.type == "string":
            out["maxLength"] = param.max_length
            if param.pattern:
                out["pattern"] = param.pattern
        else:
            out["format"] = "flowcron-" + param.type
    if param.default is not None:
        out["default"] = param.default
    return out


def library_from_catalog(document: Mapping[str, Any]) -> Library:
    """The functions of a catalogue, to check calls with (they have no template)."""
    if document.get("format") != CATALOG_FORMAT:
        raise ValueError(
            f"not a FlowCron functions catalogue (format {document.get('format')!r}, "
            f"expected {CATALOG_FORMAT!r}); write one with `hpc-agent function catalog`"
        )
    functions: dict[str, Function] = {}
    for entry in document.get("functions", []):
        params = tuple(_param(p) for p in entry.get("params", []))
        declared = dict(entry.get("resources", {}))
        resources = Resources(
            time=declared.get("time"),
            cpus=declared.get("cpus"),
            memory=declared.get("memory"),
            gpus=declared.get("gpus"),
            partition=declared.get("partition"),
            extra=tuple(declared.get("extra", ())),
        )
        functions[entry["name"]] = Function(
            name=entry["name"],
            version=entry.get("version", ""),
            description=entry.get("description", ""),
            help=entry.get("help", ""),
            params=params,
            resources=resources,
            sha256=entry.get("sha256", ""),
        )
    broken: dict[str, tuple[str, ...]] = {
        name: ("reported broken in the catalogue",) for name in document.get("broken", [])
    }
    return Library(functions, broken)


def _param(data: Mapping[str, Any]) -> Param:
    return Param(
        name=data["name"],
        type=data["type"],
        help=data.get("help", ""),
        required=data.get("required", "default" not in data),
        default=data.get("default"),
        minimum=data.get("min"),
        maximum=data.get("max"),
        pattern=data.get("pattern"),
        max_length=data.get("max_length", 256),
        choices=tuple(data.get("choices", ())),
        match=data.get("match"),
        glob=bool(data.get("glob", False)),
    )

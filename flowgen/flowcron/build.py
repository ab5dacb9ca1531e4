"""Build the FlowCron flow's two JSON files from an instance config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowgen.core import jsonio
from flowgen.core.errors import InvalidFlowError
from flowgen.core.findings import Finding, Severity
from flowgen.flowcron.config import FlowConfig, load_config
from flowgen.flowcron.flow import build_flow
from flowgen.flowcron.schema import input_schema

DEFINITION_SUFFIX = "_definition.json"
INPUT_SCHEMA_SUFFIX = "_input_schema.json"


@dataclass(frozen=True)
class BuiltFlow:
    """A built flow: definition and input schema, plus where they are written."""

    config: FlowConfig
    definition: dict[str, Any]
    input_schema: dict[str, Any]

    def file_names(self) -> tuple[str, str]:
        """The original's file names: ``FlowCron-<name>_definition.json`` and ``..._input_schema.json``."""
        stem = self.config.file_stem
        return stem + DEFINITION_SUFFIX, stem + INPUT_SCHEMA_SUFFIX

    def write(self, directory: Path) -> tuple[Path, Path]:
        """Write both files into ``directory``; returns their paths."""
        definition_name, schema_name = self.file_names()
        definition_path, schema_path = directory / definition_name, directory / schema_name
        jsonio.write(definition_path, self.definition)
        jsonio.write(schema_path, self.input_schema)
        return definition_path, schema_path


def build(cfg: FlowConfig) -> BuiltFlow:
    """Build the flow for one instance."""
    return BuiltFlow(cfg, build_flow(cfg).to_json(), input_schema(cfg))


def build_from_config(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Definition and input schema built from a config file."""
    built = build(load_config(path))
    return built.definition, built.input_schema


def default_output_dir(cfg: FlowConfig, root: Path = Path("flows")) -> Path:
    """Where ``flowgen build`` writes by default: ``flows/build/<name>/``."""
    return root / "build" / cfg.name


def build_checked(path: Path) -> tuple[BuiltFlow, list[Finding]]:
    """Build from a config and validate the result offline.

    Returns the built flow and its warning-level findings; raises
    :class:`~flowgen.core.errors.InvalidFlowError` listing the errors when there
    are any, so nothing invalid is ever written.
    """
    from flowgen.validate import validate_flow

    built = build(load_config(path))
    definition_name, schema_name = built.file_names()
    findings = validate_flow(
        built.definition,
        built.input_schema,
        definition_file=definition_name,
        schema_file=schema_name,
    )
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        listing = "\n".join(f"  {f}" for f in errors)
        raise InvalidFlowError(f"{path}: the built flow is not valid:\n{listing}")
    return built, findings

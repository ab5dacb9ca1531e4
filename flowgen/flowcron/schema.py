"""The FlowCron flow's input schema: what the web app's start form shows.

Same shape as the original (``input.source`` with ``id`` and ``path``,
``input.delete``), so users' habits carry over; plain-language titles and
descriptions, ``propertyOrder`` for the form's field order.
"""

from __future__ import annotations

from typing import Any

from flowgen.flowcron.config import FlowConfig

SOURCE_PATH_PATTERN = "^/(.*[^/])?[^/]/$"
"""An absolute folder path ending with '/', naming a folder (not '/')."""


def input_schema(cfg: FlowConfig) -> dict[str, Any]:
    """The input schema (draft-07) for one instance's flow."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"Run a Unit of Work on {cfg.hpc_name}",
        "description": (
            "Choose the Unit of Work folder on your collection: it holds data/ and scripts/ "
            "(with one Slurm script). FlowCron uploads it to "
            f"{cfg.hpc_name}, runs the script, and copies the results back into the same folder."
        ),
        "type": "object",
        "required": ["input"],
        "additionalProperties": False,
        "propertyOrder": ["input"],
        "properties": {"input": _run_input(cfg)},
    }


def _run_input(cfg: FlowConfig) -> dict[str, Any]:
    """``input``: the source folder and whether to delete the HPC copy."""
    return {
        "title": "Unit of Work",
        "type": "object",
        "required": ["source"],
        "additionalProperties": False,
        "propertyOrder": ["source", "delete"],
        "properties": {
            "source": {
                "title": "Unit of Work folder",
                "description": (
                    "The collection and folder to run. The path must end with /. "
                    "Results come back into this folder."
                ),
                "type": "object",
                "format": "globus-collection",
                "required": ["id", "path"],
                "additionalProperties": False,
                "propertyOrder": ["id", "path"],
                "properties": {
                    "id": {
                        "title": "Collection",
                        "description": "The collection the folder is on (your laptop's Globus Connect Personal collection, for example).",
                        "type": "string",
                        "format": "uuid",
                    },
                    "path": {
                        "title": "Folder path",
                        "description": "The folder holding data/ and scripts/, ending with /, for example /~/my_analysis/.",
                        "type": "string",
                        "pattern": SOURCE_PATH_PATTERN,
                    },
                },
            },
            "delete": {
                "title": f"Delete the copy on {cfg.hpc_name} afterwards?",
                "description": (
                    f"Leave unticked to keep the job's folder on {cfg.hpc_name} "
                    "(to reuse its outputs); tick to free the project's storage once the "
                    "results are back."
                ),
                "type": "boolean",
                "default": False,
            },
        },
    }

"""Reading an instance's functions catalogue (``hpc-agent function catalog`` output)."""

from __future__ import annotations

from pathlib import Path

from flowgen.core import jsonio
from flowgen.core.errors import InputFileError
from hpc_agent.functions.catalog import library_from_catalog
from hpc_agent.functions.spec import Library

NO_LIBRARY = Library({}, {})
"""The library of a check without a catalogue: script UoWs need none."""


def load_catalog(path: Path) -> Library:
    """The functions of the catalogue at ``path``; a bad file is an error naming it."""
    document = jsonio.load(path)
    if not isinstance(document, dict):
        raise InputFileError(
            f"{path}: not a FlowCron functions catalogue (expected a JSON object); "
            "write one with `hpc-agent function catalog`"
        )
    try:
        return library_from_catalog(document)
    except ValueError as exc:
        raise InputFileError(f"{path}: {exc}") from None
    except (KeyError, TypeError, AttributeError) as exc:
        raise InputFileError(
            f"{path}: a malformed functions catalogue ({type(exc).__name__}: {exc}); "
            "write it again with `hpc-agent function catalog`"
        ) from None

"""Deterministic JSON output and JSON input with precise error locations.

Every JSON file flowgen writes goes through :func:`dumps`: 2-space indent,
keys in the order the builder produced them (the DSL orders them
canonically), non-ASCII kept readable, one final newline. The same input
therefore always gives byte-identical files and minimal review diffs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowgen.core.errors import InputFileError
from hpc_agent.fs.atomicio import write_text_atomic


def dumps(obj: Any) -> str:
    """Serialise ``obj`` the one way flowgen writes JSON."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + "\n"


def write(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically (temporary file, then rename)."""
    write_text(path, dumps(obj))


def write_text(path: Path, text: str) -> None:
    """Write text atomically, creating parent directories as needed.

    Uses the agent's writer (one place for temp-file-and-rename), which also
    gives new files the usual umask permissions rather than mkstemp's 0600.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, text)


def loads(text: str, source: str = "<string>") -> Any:
    """Parse JSON text; a syntax error names the source, line and column."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputFileError(
            f"{source}:{exc.lineno}:{exc.colno}: malformed JSON: {exc.msg}"
        ) from None


def load(path: Path) -> Any:
    """Read and parse a JSON file, with a clear message when it cannot be."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputFileError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise InputFileError(f"{path}: is a directory, expected a JSON file") from None
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{path}: not UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read: {exc.strerror}") from None
    return loads(text, str(path))

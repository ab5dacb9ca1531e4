"""Reading TOML files: every failure a ConfigError that names the file."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from flowgen.core.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib


def read_toml(path: Path, *, missing: str = "no such file") -> dict[str, Any]:
    """Parse a TOML file; ``missing`` is what to say when it does not exist."""
    try:
        raw: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: {missing}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    return raw

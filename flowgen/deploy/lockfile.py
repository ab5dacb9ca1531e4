"""The lock file committed next to an instance config: which deployed flow it is.

``flows/<name>.lock.json`` records the flow id, the Globus environment, the
title, the sha256 of the definition and input schema (of the canonical JSON
text flowgen writes), the role lists (as the URNs the service stores) and when
it was deployed; when the config named people by username, also which
identity each username resolved to (``usernames``). It is
written atomically, and only after the service confirmed a change, so a
failed deploy never leaves it half-written or pointing at nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from flowgen.core import jsonio
from flowgen.core.errors import InputFileError

LOCK_SUFFIX = ".lock.json"
LOCK_VERSION = 1


def lock_path(config: Path, name: str) -> Path:
    """Where the lock of the instance ``name`` configured in ``config`` lives."""
    return config.parent / f"{name}{LOCK_SUFFIX}"


def sha256_of(document: Any) -> str:
    """The sha256 of a JSON document as flowgen writes it (so it matches the built file)."""
    return hashlib.sha256(jsonio.dumps(document).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Lock:
    """What was deployed for one instance config."""

    flow_id: str
    environment: str
    title: str
    definition_sha256: str
    input_schema_sha256: str
    roles: dict[str, list[str]] = field(default_factory=dict)
    deployed_at: str = ""
    usernames: dict[str, str] = field(default_factory=dict)
    """Username -> the identity URN it resolved to (the roles hold the URNs)."""

    def same_deployment(self, other: Lock) -> bool:
        """Whether two locks record the same flow in the same state (times aside)."""
        mine, theirs = asdict(self), asdict(other)
        mine.pop("deployed_at")
        theirs.pop("deployed_at")
        return mine == theirs

    def to_json(self) -> dict[str, Any]:
        """The lock file's content."""
        content = {"version": LOCK_VERSION, **asdict(self)}
        if not self.usernames:
            # Locks of configs without usernames stay exactly as they were.
            del content["usernames"]
        return content


def now() -> str:
    """The current UTC time as the lock records it."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def read_lock(path: Path) -> Lock | None:
    """The lock at ``path``, or None when there is none yet."""
    if not path.exists():
        return None
    raw = jsonio.load(path)
    try:
        if not isinstance(raw, dict) or raw.get("version") != LOCK_VERSION:
            raise TypeError
        roles = raw.get("roles", {})
        usernames = raw.get("usernames", {})
        return Lock(
            flow_id=_text(raw["flow_id"]),
            environment=_text(raw["environment"]),
            title=_text(raw["title"]),
            definition_sha256=_text(raw["definition_sha256"]),
            input_schema_sha256=_text(raw["input_schema_sha256"]),
            roles={str(k): [str(v) for v in vs] for k, vs in roles.items()},
            deployed_at=_text(raw.get("deployed_at", "")),
            usernames={str(k): _text(v) for k, v in usernames.items()},
        )
    except (KeyError, TypeError, AttributeError):
        raise InputFileError(
            f"{path}: not a flowgen lock file (version {LOCK_VERSION}); "
            "restore it from version control, or delete it and run 'flowgen deploy' "
            "to find the flow by its title again"
        ) from None


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError
    return value


def write_lock(path: Path, lock: Lock) -> None:
    """Write the lock atomically (temporary file, then rename)."""
    jsonio.write(path, lock.to_json())

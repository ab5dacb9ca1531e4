"""Helpers for the agent's tests: Units of Work on disk (imported by module path)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

SCRIPT = "#!/bin/bash\n#SBATCH --time=00:01:00\n#SBATCH --ntasks=1\n\necho hello > data/out.txt\n"


def make_uow(
    parent: Path,
    name: str = "sample",
    *,
    script: str | bytes | None = SCRIPT,
    script_name: str = "submission_script.sh",
    sentinels: bool = True,
) -> Path:
    """A well-formed, fully uploaded UoW under ``parent``; callers then break it."""
    uow = parent / name
    (uow / "data").mkdir(parents=True)
    (uow / "scripts").mkdir()
    (uow / "data" / "input.txt").write_text("1 2 3\n")
    if script is not None:
        target = uow / "scripts" / script_name
        if isinstance(script, bytes):
            target.write_bytes(script)
        else:
            target.write_text(script)
    if sentinels:
        (uow / "sentinels").mkdir()
    return uow


MakeUow = Callable[..., Path]

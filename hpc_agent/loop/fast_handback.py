"""Fast hand-back: the job wrapper the agent submits, and the record of how a job ended.

With ``fast_handback = true`` (the default, Slurm executor) the agent submits
a small wrapper (:mod:`hpc_agent.loop.job_wrapper`) instead of the prepared
copy of the job script. The wrapper runs the copy exactly as Slurm would,
writes how it ended (:func:`read_ended` reads that) and runs the same
idempotent ``hpc-agent finalize`` as the finalize-by-dependency job, so a
UoW is handed back seconds after its job ends, without a tick and without a
second job. Whatever the wrapper cannot do (it was killed, Slurm's verdict
came late) the tick still does: it never depends on the wrapper.
"""

from __future__ import annotations

import ast
import functools
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Final

from hpc_agent.fs.atomicio import write_bytes_atomic
from hpc_agent.invocation import agent_command
from hpc_agent.loop.state import StateStore

MAX_WRAPPER_BYTES: Final = 4 * 1024 * 1024
"""Slurm's default ``max_script_size``: a bigger wrapper (a huge script) is not used."""

MAX_SHEBANG: Final = 127
"""The longest interpreter line every Linux kernel honours (older ones cut at 127 bytes)."""

_UNSAFE_IN_HEADER: Final = frozenset({*range(0x20), 0x7F} - {0x09})
"""Bytes the header may not hold: it is copied into Python source (a tab is whitespace there)."""

_SAFE_INTERPRETER: Final = frozenset(
    b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._+-"
)


@dataclass(frozen=True)
class Ended:
    """How a job's script ended, as its wrapper recorded it."""

    job_id: str
    exit_code: int | None
    signal: int | None
    ended_at: float | None

    @property
    def succeeded(self) -> bool:
        """The script exited 0 (only Slurm can confirm the job succeeded)."""
        return self.exit_code == 0 and self.signal is None

    @property
    def slurm_exit_code(self) -> str:
        """The script's end as Slurm writes a job's ExitCode (``3:0``, ``0:9``)."""
        return f"{self.exit_code or 0}:{self.signal or 0}"

    def reason(self) -> str:
        """Why the UoW failed, in words."""
        if self.signal is not None:
            how = f"was killed by signal {self.signal}"
        else:
            how = f"exited with code {self.exit_code}"
        return f"the job script {how} (exit code {self.slurm_exit_code}, recorded by its wrapper)"


def wrapper_path(store: StateStore, uow: str) -> Path:
    """Where the wrapper of ``uow``'s job is written (beside the prepared copy)."""
    copy = store.script_path(uow)
    return copy.with_name(copy.name[: -len(".sh")] + ".wrap.py")


def ended_path(store: StateStore, uow: str) -> Path:
    """Where the wrapper records how ``uow``'s job script ended."""
    copy = store.script_path(uow)
    return copy.with_name(copy.name[: -len(".sh")] + ".ended.json")


def log_path(store: StateStore, uow: str) -> Path:
    """Where the output of the wrapper's ``hpc-agent finalize`` goes."""
    copy = store.script_path(uow)
    return copy.with_name(copy.name[: -len(".sh")] + ".ended.log")


def read_ended(store: StateStore, uow: str, job_id: str | None) -> Ended | None:
    """What the wrapper of job ``job_id`` recorded, or None (none yet, another job's, damaged)."""
    if not job_id:
        return None
    try:
        data = json.loads(ended_path(store, uow).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("job_id") != job_id:
        return None
    code, number, at = data.get("exit_code"), data.get("signal"), data.get("ended_at")
    if not (code is None or type(code) is int) or not (number is None or type(number) is int):
        return None
    if (code is None) == (number is None):
        return None
    return Ended(job_id, code, number, float(at) if isinstance(at, (int, float)) else None)


def sbatch_header(script: bytes) -> bytes | None:
    """The lines after the interpreter line that sbatch reads ``#SBATCH`` options from.

    sbatch stops at the first line that is neither blank nor a comment. None
    when the script cannot be wrapped faithfully (no interpreter line, NUL).
    """
    if not script.startswith(b"#!") or b"\0" in script:
        return None
    lines = script.split(b"\n")[1:]
    header = []
    for line in lines:
        if line.strip() and not line.startswith(b"#"):
            break
        if _UNSAFE_IN_HEADER.intersection(line):
            return None  # a lone CR or a control byte would break the wrapper's Python
        header.append(line + b"\n")
    return b"".join(header)


@functools.cache  # the same bytes for every UoW of a tick: read once per process
def wrapper_body() -> bytes:
    """The wrapper's code, :mod:`hpc_agent.loop.job_wrapper`'s source.

    Read as a package resource, not from a path: inside hpc-agent.pyz there is no file.
    """
    return resources.files("hpc_agent.loop").joinpath("job_wrapper.py").read_bytes()


def wrapper_text(
    store: StateStore, uow: str, base_dir: Path, script: bytes | None = None
) -> bytes | None:
    """The wrapper script for ``uow``'s job, or None when it cannot be written faithfully.

    ``script`` is the prepared job script (default: read from the prepared
    copy). The wrapper carries it whole, so the job needs no file of the
    agent's to run: the prepared copy need not be written, let alone synced,
    for a UoW submitted as soon as it is admitted.
    """
    finalize = agent_command("finalize", str(base_dir), uow)
    python = os.fsencode(finalize.argv[0])
    if not python or not set(python) <= _SAFE_INTERPRETER or len(python) + 5 > MAX_SHEBANG:
        return None
    copy = store.script_path(uow)
    if script is None:
        script = copy.read_bytes()
    header = sbatch_header(script)
    if header is None:
        return None
    config = {
        "fallback": os.fsencode(copy.with_name(copy.name[: -len(".sh")] + ".job")),
        "ended": os.fsencode(ended_path(store, uow)),
        "log": os.fsencode(log_path(store, uow)),
        "uow": uow,
        "finalize": [os.fsencode(arg) for arg in finalize.argv],
        "pythonpath": None if finalize.pythonpath is None else os.fsencode(finalize.pythonpath),
    }
    text = (
        b"#!" + python + b" -IS\n"
        b"# -*- coding: latin-1 -*-\n"
        + header
        + b"# FlowCron job wrapper: runs the job script (SCRIPT, at the end) and hands the\n"
        b"# Unit of Work back as soon as it ends (fast_handback; docs/agent.md).\n"
        + wrapper_body()
        + b"\n\nCONFIG = "
        + ascii(config).encode("ascii")
        + _SCRIPT_START
        + _bytes_literal(script)
        + _SCRIPT_END
    )
    return text if len(text) <= MAX_WRAPPER_BYTES else None


_SCRIPT_START: Final = b"\nCONFIG['script'] = SCRIPT = (\n"
_SCRIPT_END: Final = b"\n)\nmain(CONFIG)\n"


def wrapped_script(store: StateStore, uow: str) -> bytes | None:
    """The job script the wrapper of ``uow``'s job carries, or None (no wrapper, damaged).

    A UoW whose job Slurm lost is submitted again with the very script it was
    first submitted with, not one prepared again from a folder its job has
    already worked in.
    """
    try:
        text = wrapper_path(store, uow).read_bytes()
    except OSError:
        return None
    start, end = text.rfind(_SCRIPT_START), len(text) - len(_SCRIPT_END)
    if start < 0 or not text.endswith(_SCRIPT_END) or start + len(_SCRIPT_START) > end:
        return None
    literal = text[start + len(_SCRIPT_START) : end].decode("ascii", "replace")
    try:
        script = ast.literal_eval("(\n" + literal + "\n)")
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    return script if isinstance(script, bytes) else None


def _bytes_literal(data: bytes) -> bytes:
    """``data`` as Python bytes literals, one per line of the script (readable in
    ``scontrol write batch_script``)."""
    lines = data.splitlines(keepends=True) or [b""]
    return b"\n".join(b"    " + ascii(line).encode("ascii") for line in lines)


def job_script(
    store: StateStore, uow: str, base_dir: Path, script: bytes | None = None
) -> Path | None:
    """Write the wrapper of ``uow``'s job and return its path; None when the job script
    cannot be wrapped (then the prepared copy itself is submitted)."""
    text = wrapper_text(store, uow, base_dir, script)
    if text is None:
        return None
    path = wrapper_path(store, uow)
    # Not fsynced: sbatch reads it at once and Slurm keeps its own copy of the batch
    # script; after a crash the next submission writes it again.
    write_bytes_atomic(path, text, mode=0o700, crash_name="mid-wrapper-write", durable=False)
    return path


__all__ = [
    "Ended",
    "ended_path",
    "job_script",
    "log_path",
    "read_ended",
    "sbatch_header",
    "wrapped_script",
    "wrapper_path",
    "wrapper_text",
]

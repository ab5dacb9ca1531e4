"""Helpers for the distribution tests: run a command as a user would, outside the checkout."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

OFFLINE_SIGNS = (
    "Network is unreachable",
    "Temporary failure in name resolution",
    "Name or service not known",
    "Failed to establish a new connection",
    "No matching distribution found",
    "Could not find a version that satisfies",
)
"""What pip prints when it cannot reach the package index."""


def under_ci() -> bool:
    """True under CI (``CI=true``), where nothing may skip."""
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def clean_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment without anything that would find the checkout's code."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV")
        and not key.startswith("PYTEST_")
    }
    env.pop("XDG_CONFIG_HOME", None)
    env["HOME"] = str(home)
    env["NO_COLOR"] = "1"
    return {**env, **(extra or {})}


def run(
    argv: Sequence[str | Path],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float = 120,
    needs_index: bool = False,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` and return what it printed (the exit code is the caller's to check).

    ``needs_index``: the command downloads from the package index; when it
    fails for want of a network it skips the test, except under CI.
    """
    done = subprocess.run(
        [str(arg) for arg in argv],
        cwd=cwd,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if needs_index and done.returncode != 0 and not under_ci():
        output = done.stdout + done.stderr
        if any(sign in output for sign in OFFLINE_SIGNS):
            pytest.skip(f"the package index is not reachable: {output.strip().splitlines()[-1]}")
    return done


def ok(done: subprocess.CompletedProcess[str]) -> str:
    """The command's stdout, after asserting it exited 0 (its whole output in the message)."""
    assert done.returncode == 0, (
        f"{' '.join(map(str, done.args))} exited {done.returncode}\n"
        f"--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}"
    )
    return done.stdout


def local_setup(
    base: Path,
    name: str,
    *,
    schedule: str = "none",
    executor: str = "local",
    account: str = "none",
    qos: str = "none",
) -> tuple[str | Path, ...]:
    """``hpc-agent setup`` arguments, nothing asked: the local executor unless told otherwise."""
    return (
        "setup",
        "--base-dir",
        base,
        "--name",
        name,
        "--executor",
        executor,
        "--schedule",
        schedule,
        "--account",
        account,
        "--qos",
        qos,
        "--yes",
    )

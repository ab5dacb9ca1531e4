"""Run agent code with a plain user's file permissions, also when the tests run as root.

Root ignores permission bits, so for a root agent a job's ``chmod 555 "$1"``
traps nothing and the trap tests would prove nothing. ``setpriv`` drops
CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and CAP_FOWNER from the child's
bounding set: root then has exactly the rights of the files' owner, which is
what the agent's own user has on a login node. As a non-root user nothing
needs dropping.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DROP = "-dac_override,-dac_read_search,-fowner"


def plain_prefix() -> list[str] | None:
    """The command prefix that drops root's overrides ([] when not root), or None if impossible."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    probe = subprocess.run(
        [setpriv, f"--bounding-set={DROP}", "--", "true"], capture_output=True, check=False
    )
    return [setpriv, f"--bounding-set={DROP}", "--"] if probe.returncode == 0 else None


SKIP_REASON = (
    "running as root without setpriv (util-linux) or CAP_SETPCAP: root ignores the "
    "permission bits a job's chmod sets, so the trap cannot be shown"
)


def run_plain(
    argv: list[str], *, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` (a Python program's arguments) as a plain user, with the repo importable."""
    prefix = plain_prefix()
    assert prefix is not None, SKIP_REASON
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [*prefix, sys.executable, *argv],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )


FAKE_TICK = """
import sys
from pathlib import Path
from hpc_agent.config import load_base
from hpc_agent.loop.tick import tick
from tests.agent.fakes import FakeExecutor

base, now, *ended = sys.argv[1:]
fake = FakeExecutor()
for job in ended:
    fake.finish(job)
result = tick(load_base(Path(base)), fake, now=float(now))
print(sorted(result.finished))
sys.exit(result.exit_code)
"""
"""A tick with a FakeExecutor whose jobs ``ended`` have completed: ``BASE NOW JOB...``."""


def plain_fake_tick(base: Path, now: float, *ended: str) -> subprocess.CompletedProcess[str]:
    """One tick of the instance at ``base`` as a plain user, the given jobs having completed."""
    return run_plain(["-c", FAKE_TICK, str(base), repr(now), *ended])

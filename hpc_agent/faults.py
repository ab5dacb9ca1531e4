"""Named crash points: a test hook for proving the tick is crash safe.

The tick calls :func:`crash_point` between the steps of admitting, submitting
and finalizing a Unit of Work. When the environment variable
``FLOWCRON_CRASH_AT`` names that point, the process kills itself with SIGKILL
on the spot, exactly as ``kill -9`` or a node reboot would. Tests set it, run a
tick, then run another tick without it and check that no file was lost and no
UoW was submitted twice. In normal use the variable is unset and every call is
a dictionary look-up.

``FLOWCRON_CRASH_AT`` may hold several names separated by commas.
"""

from __future__ import annotations

import os
import signal
from typing import Final

CRASH_ENV: Final = "FLOWCRON_CRASH_AT"

CRASH_POINTS: Final = (
    "mid-record-write",
    "mid-script-write",
    "mid-finalize-script-write",
    "mid-wrapper-write",
    "after-archive-earlier",
    "after-admit-record",
    "after-admit-rename",
    "after-submit-intent",
    "after-submit-before-record",
    "after-record",
    "job-wrapper-before-record",
    "mid-ended-record-write",
    "job-wrapper-after-record",
    "job-wrapper-after-handback",
    "after-handback-outcome",
    "after-outcome-record",
    "after-lost-record",
    "after-report",
    "after-permissions",
    "after-sentinels-removed",
    "after-finalize-rename",
    "after-ledger",
)
"""Every crash point, in the order a UoW passes them.

The ``job-wrapper-*`` points and ``mid-ended-record-write`` are in the fast
hand-back job wrapper (:mod:`hpc_agent.loop.job_wrapper`, which checks them
itself), inside the job: it inherits ``FLOWCRON_CRASH_AT`` from the tick that
submitted it."""


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL when ``FLOWCRON_CRASH_AT`` names ``name``."""
    wanted = os.environ.get(CRASH_ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)

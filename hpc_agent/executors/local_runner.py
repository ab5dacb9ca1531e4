"""``python -m hpc_agent.executors.local_runner STATE_DIR JOB_ID``: run one local job.

A module of its own (not ``python -m hpc_agent.executors.local``) so that the
package ``__init__``, which imports ``local``, never runs it twice.
"""

from __future__ import annotations

import sys

from hpc_agent.executors.local import runner_main

if __name__ == "__main__":
    raise SystemExit(runner_main(sys.argv[1:]))

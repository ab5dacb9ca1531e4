"""Usage and the PI's view: who ran what, how it went, and what it cost.

* :mod:`hpc_agent.usage.entry`: the fields finalize adds to a finished UoW's
  ledger entry (who, what, outcome, times, bytes handed back);
* :mod:`hpc_agent.usage.sacct`: one batched ``sacct`` call for the period's
  jobs (allocated CPUs and GPUs, elapsed, peak memory, submit and start);
* :mod:`hpc_agent.usage.figures`: the one computation both ``hpc-agent usage``
  and ``hpc-agent report --html`` show;
* :mod:`hpc_agent.usage.html`: the self-contained HTML report (inline CSS and
  SVG, no script, no network).

:data:`GROUPINGS` is here, with no imports, so ``hpc-agent --help`` can offer
``usage --by`` without loading the figures.
"""

from typing import Final

GROUPINGS: Final = ("user", "function", "state", "day")
"""What ``hpc-agent usage --by`` groups the figures by."""

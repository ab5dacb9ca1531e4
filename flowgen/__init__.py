"""flowgen: build, check, deploy and simulate Globus flows; the FlowCron flow.

The PI-side half of FlowCron. The DSL (:mod:`flowgen.dsl`) builds flow
definitions in Python; :mod:`flowgen.validate` checks them offline;
:mod:`flowgen.flowcron` builds the FlowCron flow from an instance config.
"""

# One version for the whole distribution: both halves ship together, and the
# agent's copy is the one pyproject.toml reads (hpc_agent cannot import flowgen).
from hpc_agent import __version__

__all__ = ["__version__"]

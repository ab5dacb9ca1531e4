"""flowgen: build, check, deploy and simulate Globus flows; the FlowCron flow.

The PI-side half of FlowCron. The DSL (:mod:`flowgen.dsl`) builds flow
definitions in Python; :mod:`flowgen.validate` checks them offline;
:mod:`flowgen.flowcron` builds the FlowCron flow from an instance config.
"""

__version__ = "0.1.0"

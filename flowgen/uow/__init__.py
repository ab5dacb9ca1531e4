"""Units of Work on the researcher's side: write one (``flowgen uow new``), check one (``check``).

The check is the agent's own admission (:func:`hpc_agent.uow.admission.admit`),
imported and run on the researcher's machine, so a folder that passes here
is one the agent admits, and every problem it would report is shown before
anything is uploaded.
"""

"""Published functions: curated, typed job templates a researcher calls instead of writing a script.

:mod:`~hpc_agent.functions.params` (parameter types and checks),
:mod:`~hpc_agent.functions.spec` (a ``Functions/<name>/`` folder, read and
checked), :mod:`~hpc_agent.functions.render` (the injection-proof job
script), :mod:`~hpc_agent.functions.call` (a UoW's ``job.toml``) and
:mod:`~hpc_agent.functions.catalog` (the JSON document the user side reads).
"""

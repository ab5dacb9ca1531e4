"""``python3 -m hpc_agent``: the agent from a plain checkout, nothing installed."""

from hpc_agent.cli import main

if __name__ == "__main__":  # importing the module (pytest --doctest-modules) runs nothing
    raise SystemExit(main())

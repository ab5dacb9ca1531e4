"""``python3 -m hpc_agent``: the agent from a plain checkout, nothing installed."""

from hpc_agent.cli import main

raise SystemExit(main())

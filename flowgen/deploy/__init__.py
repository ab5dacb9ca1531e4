"""Deploy flows to Globus Flows, manage groups and watch runs: flowgen's online half.

Everything here talks to Globus through globus-sdk, so it is imported only by
the online commands (``deploy``, ``run``, ``group``, ``login``); the offline
commands never load it.
"""
